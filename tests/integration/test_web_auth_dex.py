"""Sign-in against a real OpenID Connect provider, Dex (built from the Go module proxy by
scripts/build-dex.sh), so the page's OIDC client is not only ever tested against our own stand-in:
Dex's discovery, its password login form, its code exchange (PKCE) and its ID tokens."""

from __future__ import annotations

import html
import re
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from deployer.polling import poll_until
from deployer.web.asgi import create_app
from deployer.web.auth.settings import AuthOptions, resolve
from deployer.web.auth.wiring import install
from deployer.web.context import WebContext
from deployer.web.serve import Serving
from tests.integration.web_auth_kit import ALICE, BOB, REPO, config_folder

# Dex's own example hash (examples/config-dev.yaml) of the password "password"
PASSWORD_HASH = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
DEX_SECRET = "dex-client-s3cret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def dex_binary() -> Path:
    built = subprocess.run(["bash", str(REPO / "scripts" / "build-dex.sh")], capture_output=True, text=True,
                           timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    return Path(built.stdout.strip())


@pytest.fixture()
def dex_and_page(tmp_path: Path, dex_binary: Path):
    dex_port = free_port()
    issuer = f"http://127.0.0.1:{dex_port}/dex"
    config = config_folder(tmp_path / "config")
    ctx = WebContext(config, tmp_path / "state")
    (tmp_path / "secret").write_text(DEX_SECRET)
    (tmp_path / "groups.yaml").write_text(f"groups:\n  payments-oncall: [{ALICE}]\n")
    # the page first (its port is the redirect URI Dex must know), then Dex
    middleware, routes = install(ctx, resolve(AuthOptions(
        state_dir=ctx.state_dir, oidc_issuer=issuer, oidc_client_id="deployer-web",
        oidc_client_secret_file=tmp_path / "secret", groups_file=tmp_path / "groups.yaml")))
    with Serving(create_app(ctx, middleware=middleware, extra_routes=routes)) as serving:
        url = f"http://127.0.0.1:{serving.port}"
        users = "".join(f"- email: {email}\n  hash: \"{PASSWORD_HASH}\"\n  username: {email.split('@')[0]}\n"
                        f"  userID: \"{i}8a8684b-db88-4b73-90a9-3cd1661f5466\"\n"
                        for i, email in enumerate([ALICE, BOB]))
        (tmp_path / "dex.yaml").write_text(
            f"issuer: {issuer}\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:{dex_port}\n"
            "oauth2:\n  skipApprovalScreen: true\n"
            f"staticClients:\n- id: deployer-web\n  secret: {DEX_SECRET}\n  name: deployer\n"
            f"  redirectURIs: ['{url}/auth/callback']\n"
            f"enablePasswordDB: true\nstaticPasswords:\n{users}")
        log = (tmp_path / "dex.log").open("w")
        dex = subprocess.Popen([str(dex_binary), "serve", str(tmp_path / "dex.yaml")], stdout=log,
                               stderr=subprocess.STDOUT)
        try:
            def discovered() -> bool | None:
                assert dex.poll() is None, (tmp_path / "dex.log").read_text()[-2000:]
                try:
                    return requests.get(issuer + "/.well-known/openid-configuration", timeout=2).ok or None
                except requests.ConnectionError:
                    return None

            assert poll_until(discovered, 30, interval=0.1), (tmp_path / "dex.log").read_text()[-2000:]
            yield ctx, url
        finally:
            dex.terminate()
            dex.wait(10)
            log.close()
    ctx.close()


def sign_in_with_password(url: str, email: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(url + "/login", timeout=30)
    action = re.search(r'<form[^>]*action="([^"]+)"', form.text)
    assert form.status_code == 200 and action, form.text[:2000]
    target = requests.compat.urljoin(form.url, html.unescape(action.group(1)))
    landed = browser.post(target, data={"login": email, "password": "password"}, timeout=30)
    assert landed.status_code == 200 and landed.url == url + "/", (landed.url, landed.text[:2000])
    return browser


def test_sign_in_through_dex_and_its_groups_decide(dex_and_page) -> None:
    ctx, url = dex_and_page
    alice = sign_in_with_password(url, ALICE)
    me = alice.get(url + "/auth/session", timeout=10).json()
    assert me["email"] == ALICE and me["groups"] == ["payments-oncall"] and me["via"] == "oidc"
    bob = sign_in_with_password(url, BOB)
    token = bob.get(url + "/auth/session", timeout=10).json()["csrfToken"]
    refused = bob.post(url + "/jobs", data={"action": "deploy", "service": "hello", "environment": "production",
                                            "confirm": "hello", "csrf_token": token}, allow_redirects=False,
                       timeout=30)
    assert refused.status_code == 403 and "payments-oncall" in refused.text
    assert ctx.store.recent(10) == []
