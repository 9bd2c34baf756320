"""The pure parts of the web page's sign-in: the Host allowlist, trusted-proxy headers, the
session's lifetime and secret file, the settings file, where a sign-in may return to."""

from __future__ import annotations

import ipaddress
import os
import stat

import pytest

from deployer.errors import ConfigError, UsageError
from deployer.web.auth import csrf
from deployer.web.auth.hosts import host_allowed
from deployer.web.auth.policy import Identity
from deployer.web.auth.proxy import ForgedProxyHeader, proxy_identity
from deployer.web.auth.routes import safe_next
from deployer.web.auth.sessions import session_secret, store_user, user_of
from deployer.web.auth.settings import AuthOptions, default_hosts, resolve

ALLOWED = ("localhost", "127.0.0.1", "deploy.example.com:443", "[::1]")


@pytest.mark.parametrize("host, allowed", [
    ("localhost", True), ("LOCALHOST:8080", True), ("127.0.0.1:9", True), ("localhost.", True),
    ("[::1]:8080", True), ("deploy.example.com:443", True),
    ("deploy.example.com", False),  # listed with a port: only that port
    ("attacker.example", False), ("attacker.example:80", False), ("localhost.attacker.example", False),
    ("127.0.0.1.nip.io", False), ("", False), (None, False), ("localhost:80@evil", False),
])
def test_host_allowlist(host, allowed) -> None:
    assert host_allowed(host, ALLOWED) is allowed


def test_default_hosts_are_loopback_the_bound_address_and_the_public_url() -> None:
    assert default_hosts("127.0.0.1", None) == ("localhost", "127.0.0.1", "[::1]")
    assert default_hosts("0.0.0.0", "https://deploy.example.com") == \
        ("localhost", "127.0.0.1", "[::1]", "deploy.example.com")
    assert "10.1.2.3" in default_hosts("10.1.2.3", None)


PROXIES = (ipaddress.ip_network("10.0.0.0/24"),)


def test_a_trusted_proxy_names_user_and_groups() -> None:
    who = proxy_identity("10.0.0.7", {"x-forwarded-user": "alice@example.com",
                                      "x-forwarded-groups": "sre, payments-oncall,"}, PROXIES)
    assert who == Identity("alice@example.com", frozenset({"sre", "payments-oncall"}), "proxy")
    assert proxy_identity("10.0.0.7", {"x-forwarded-email": "bob@example.com"}, PROXIES).email == "bob@example.com"
    assert proxy_identity("10.0.0.7", {}, PROXIES) is None


@pytest.mark.parametrize("address, headers", [
    ("10.0.1.7", {"x-forwarded-user": "alice"}),  # outside the range
    ("127.0.0.1", {"x-forwarded-groups": "payments-oncall"}),  # groups alone are a forgery too
    ("not-an-address", {"x-forwarded-user": "alice"}),
    ("10.0.0.7", {"x-forwarded-user": "alice\r\nx: y"}),  # from the proxy, but no plain name
    ("10.0.0.7", {"x-forwarded-groups": "sre"}),  # from the proxy, but nobody named
])
def test_forged_or_unusable_proxy_headers_are_refused(address, headers) -> None:
    with pytest.raises(ForgedProxyHeader):
        proxy_identity(address, headers, PROXIES)


def test_no_trusted_proxy_means_every_forwarded_user_is_forged() -> None:
    with pytest.raises(ForgedProxyHeader, match="127.0.0.1"):
        proxy_identity("127.0.0.1", {"x-forwarded-user": "alice"}, ())


def test_a_sign_in_lasts_its_lifetime_and_starts_a_fresh_session() -> None:
    session = {"csrf": "planted-before-sign-in", "other": 1}
    store_user(session, Identity("alice@example.com", frozenset({"sre"}), "oidc"), now=1000)
    assert set(session) == {"user"}
    assert user_of(session, 3600, now=4599) == Identity("alice@example.com", frozenset({"sre"}), "oidc")
    assert user_of(session, 3600, now=4600) is None and "user" not in session


def test_a_session_from_the_future_or_malformed_is_nobody() -> None:
    assert user_of({"user": {"email": "a@b.c", "groups": [], "at": 10_000}}, 3600, now=1000) is None
    assert user_of({"user": "alice"}, 3600, now=1000) is None
    assert user_of({"user": {"email": "a@b.c", "groups": "sre", "at": 1000}}, 3600, now=1000) is None


def test_csrf_tokens_compare_only_with_this_session() -> None:
    session: dict = {}
    token = csrf.token_of(session)
    assert csrf.token_of(session) == token and len(token) >= 32
    assert csrf.matches(session, token)
    assert not csrf.matches(session, None) and not csrf.matches(session, "") and not csrf.matches({}, token)
    assert csrf.token_in_form(b"action=deploy&csrf_token=" + token.encode()) == token
    assert csrf.token_in_form(b"\xff") is None


def test_the_session_secret_is_generated_0600_and_kept(tmp_path) -> None:
    first = session_secret(None, tmp_path / "state")
    path = tmp_path / "state" / "session-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(None, tmp_path / "state") == first and len(first) >= 32


def test_a_session_secret_others_can_read_is_refused(tmp_path) -> None:
    path = tmp_path / "secret"
    path.write_text("x" * 40)
    os.chmod(path, 0o644)
    with pytest.raises(UsageError, match="readable by other users"):
        session_secret(path, None)
    os.chmod(path, 0o600)
    path.write_text("short")
    with pytest.raises(UsageError, match="shorter than 16"):
        session_secret(path, None)


@pytest.mark.parametrize("target, expected", [
    ("/jobs/12", "/jobs/12"), (None, "/"), ("", "/"), ("https://attacker.example/", "/"),
    ("//attacker.example/", "/"), ("/\\attacker.example", "/"), ("jobs", "/"),
])
def test_after_sign_in_only_a_path_on_this_site(target, expected) -> None:
    assert safe_next(target) == expected


def test_settings_file_section_with_flags_over_it(tmp_path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "groups.yaml").write_text("groups:\n  sre: [Carol@Example.com]\n")
    (tmp_path / "web.yaml").write_text(
        "auth:\n  publicUrl: https://deploy.example.com\n  trustedProxies: [10.0.0.7]\n  sessionLifetime: 2h\n"
        f"  oidc:\n    clientId: web-client\n    clientSecretFile: {tmp_path / 'secret'}\n"
        f"    groupsFile: {tmp_path / 'groups.yaml'}\n")
    settings = resolve(AuthOptions(settings_file=tmp_path / "web.yaml", state_dir=tmp_path / "state",
                                   session_lifetime="30m"))
    assert settings.https and settings.session_lifetime == 1800
    assert settings.allowed_hosts[-1] == "deploy.example.com"
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.7/32"),)
    assert settings.oidc is not None and settings.oidc.issuer == "https://accounts.google.com"
    assert settings.oidc.client_secret == "s3cret" and "s3cret" not in repr(settings)
    assert settings.oidc.group_map == {"carol@example.com": frozenset({"sre"})}


def test_a_bad_settings_file_names_file_line_and_field(tmp_path) -> None:
    (tmp_path / "web.yaml").write_text("auth:\n  oidc:\n    clientId: x\n    clientSecret: inline-secret\n")
    with pytest.raises(ConfigError) as caught:
        resolve(AuthOptions(settings_file=tmp_path / "web.yaml", state_dir=tmp_path))
    problem = caught.value.problems[0]
    assert problem.line == 4 and "clientSecret" in problem.field
    assert "inline-secret" not in caught.value.message


def test_the_client_secret_comes_from_the_environment_and_must_not_be_empty(tmp_path) -> None:
    options = dict(state_dir=tmp_path, oidc_client_id="web-client")
    assert resolve(AuthOptions(**options, environ={"DEPLOYER_OIDC_CLIENT_SECRET": "from-env"})
                   ).oidc.client_secret == "from-env"  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="DEPLOYER_OIDC_CLIENT_SECRET"):
        resolve(AuthOptions(**options, environ={}))


def test_a_bad_trusted_proxy_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="--trusted-proxy: 'proxy.example' is not an address"):
        resolve(AuthOptions(state_dir=tmp_path, trusted_proxies=("proxy.example",)))


def test_deployer_web_refuses_bad_sign_in_settings_before_listening(tmp_path) -> None:
    from tests.conftest import run_cli

    repo = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    (tmp_path / "web.yaml").write_text("auth:\n  trustedProxies: [10.0.0.7]\n  sesionLifetime: 2h\n")
    bad_file = run_cli("--config-dir", repo, "web", "--port", "0", "--state-dir", str(tmp_path / "s"),
                       "--settings", str(tmp_path / "web.yaml"))
    assert bad_file.exit_code == 3 and f"{tmp_path / 'web.yaml'}:3:" in bad_file.stderr
    assert "auth.sesionLifetime" in bad_file.stderr
    no_secret = run_cli("--config-dir", repo, "web", "--port", "0", "--state-dir", str(tmp_path / "s"),
                        "--oidc-client-id", "web-client")
    assert no_secret.exit_code == 2 and "DEPLOYER_OIDC_CLIENT_SECRET" in no_secret.stderr


def test_deployer_web_help_teaches_the_sign_in_flags() -> None:
    from tests.conftest import run_cli

    shown = run_cli("web", "--help").stdout
    for flag in ("--oidc-client-id", "--oidc-issuer", "--groups-file", "--trusted-proxy", "--allowed-host",
                 "--session-lifetime", "--public-url", "--settings"):
        assert flag in shown, flag
    assert "deployer web --trusted-proxy 10.0.0.7" in shown
