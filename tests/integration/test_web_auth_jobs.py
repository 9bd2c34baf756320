"""The security checks of issue 14 against the page's real job routes (deployer.web.asgi with
sign-in installed as `deployer web` installs it): a foreign Host, a POST without the CSRF token, a
forged X-Forwarded-User from a non-proxy address and a production POST by a non-member are each
refused, nothing is started (no job, no "start" entry in the audit trail, so no cluster was
touched: a job is the only way the page writes to one), and the refusal is in the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from deployer.web.asgi import create_app
from deployer.web.auth.settings import AuthOptions, resolve
from deployer.web.auth.wiring import install
from deployer.web.context import WebContext
from deployer.web.serve import Serving
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.integration.web_auth_kit import ALICE, BOB, CLIENT_ID, CLIENT_SECRET, config_folder


@pytest.fixture()
def site(tmp_path: Path):
    """The page over the repository's configuration (production: payments-oncall), signing in
    through the stand-in; trusts X-Forwarded-User from 10.9.9.9 only."""
    config = config_folder(tmp_path / "config")
    (tmp_path / "secret").write_text(CLIENT_SECRET)
    with GcpStandIn(tmp_path / "gcp") as issuer:
        admin = AdminClient(issuer.base_url)
        admin.add_oidc_user(ALICE, ["payments-oncall"])
        admin.add_oidc_user(BOB, ["staff"])
        ctx = WebContext(config, tmp_path / "state")
        middleware, routes = install(ctx, resolve(AuthOptions(
            state_dir=ctx.state_dir, oidc_issuer=issuer.base_url, oidc_client_id=CLIENT_ID,
            oidc_client_secret_file=tmp_path / "secret", trusted_proxies=("10.9.9.9/32",))))
        with Serving(create_app(ctx, middleware=middleware, extra_routes=routes)) as serving:
            url = f"http://127.0.0.1:{serving.port}"
            admin.add_oidc_client(CLIENT_ID, CLIENT_SECRET, [url + "/auth/callback"])
            yield ctx, url
        ctx.close()


def signed_in(url: str, email: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    landed = browser.get(url + "/login", params={"login_hint": email}, timeout=30)
    assert landed.status_code == 200 and landed.url == url + "/", landed.text
    assert email in landed.text  # the page names who is signed in
    return browser, browser.get(url + "/auth/session", timeout=10).json()["csrfToken"]


def press(browser: requests.Session, url: str, token: str | None, environment: str = "production",
          headers: dict[str, str] | None = None) -> requests.Response:
    form = {"action": "deploy", "service": "hello", "environment": environment, "confirm": "hello"}
    if token is not None:
        form["csrf_token"] = token
    return browser.post(url + "/jobs", data=form, headers=headers, allow_redirects=False, timeout=30)


def nothing_started(ctx: WebContext) -> bool:
    return ctx.store.recent(10) == [] and not [e for e in ctx.store.audit() if e["event"] == "start"]


def test_each_refusal_starts_nothing_and_is_audited(site) -> None:
    ctx, url = site
    alice, alice_token = signed_in(url, ALICE)
    bob, bob_token = signed_in(url, BOB)

    foreign_host = press(alice, url, alice_token, headers={"Host": "attacker.example"})
    assert foreign_host.status_code == 400
    no_token = press(alice, url, None)
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    forged = press(bob, url, bob_token, headers={"X-Forwarded-User": ALICE, "X-Forwarded-Groups": "payments-oncall"})
    assert forged.status_code == 403 and "not a trusted proxy" in forged.text
    non_member = press(bob, url, bob_token)
    assert non_member.status_code == 403 and "membership of payments-oncall" in non_member.text
    nobody = press(requests.Session(), url, None, environment="staging")
    assert nobody.status_code == 403

    assert nothing_started(ctx)
    refused = [e for e in ctx.store.audit() if e["event"] == "refused"]
    assert [(e["actor"], e["action"], e["environment"]) for e in refused] == [
        (f"web:{ALICE}", "POST /jobs", ""),
        ("web:unknown@127.0.0.1", "POST /jobs", ""),
        (f"web:{BOB}", "deploy", "production"),
        ("web:unknown@127.0.0.1", "POST /jobs", ""),
    ]
    assert CLIENT_SECRET not in str(ctx.store.audit())


def test_every_post_form_on_the_page_carries_the_csrf_token(site) -> None:
    ctx, url = site
    browser, token = signed_in(url, ALICE)
    html = browser.get(url + "/", timeout=30).text
    forms = html.count("<form")
    assert forms and html.count(f'name="csrf_token" value="{token}"') == forms


def test_the_header_names_who_is_signed_in_signs_out_with_csrf_and_a_401_offers_sign_in(site) -> None:
    ctx, url = site
    browser, token = signed_in(url, ALICE)
    html = browser.get(url + "/", timeout=30).text
    assert (f'<form method="post" action="/logout" class="who"><input type="hidden" name="csrf_token" '
            f'value="{token}"><span>signed in as {ALICE}</span> <button type="submit">Sign out</button></form>') in html
    assert browser.post(url + "/logout", allow_redirects=False, timeout=30).status_code == 403  # no CSRF token
    assert f"signed in as {ALICE}" in browser.get(url + "/", timeout=30).text
    out = browser.post(url + "/logout", data={"csrf_token": token}, timeout=30)
    assert out.status_code == 200 and out.url == url + "/"
    assert "signed in as" not in out.text and '<a href="/login?next=/">Sign in</a>' in out.text

    # Nobody signed in, with this session's CSRF token: the refusal is a 401 that links to sign-in.
    nobody = requests.Session()
    refused = press(nobody, url, nobody.get(url + "/auth/session", timeout=10).json()["csrfToken"], "staging")
    assert refused.status_code == 401
    assert "<title>Sign-in required · deployer</title>" in refused.text and "<h1>Sign-in required</h1>" in refused.text
    assert '<a class="button primary" href="/login?next=/">Sign in</a>' in refused.text
    assert nothing_started(ctx)
