"""Sign-in and who may do what, end to end over real HTTP: the page (Starlette under uvicorn) with
deployer.web.auth's middleware, routes and authorize hook; the GCP stand-in as the OpenID Connect
issuer; requests following the redirects with a cookie jar, as a browser would.

The page here is a small stand-in for the deploy page's job routes: a POST that passes the gate
and ``authorize`` appends a job; every refusal test asserts that none was appended. The same
checks against the real job routes are in test_web_auth_jobs.py.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route

from deployer.config.loader import load_config
from deployer.web.auth import Refusal, WebAuth
from deployer.web.auth.denied import AccessDenied
from deployer.web.auth.settings import AuthOptions, resolve
from deployer_localplatform.gcp_standin import AdminClient, GcpStandIn
from tests.integration.web_auth_kit import ALICE, BOB, CAROL, CLIENT_ID, CLIENT_SECRET, config_folder, serve
from tests.unit.test_gcp_standin import Clock


class Page:
    """The app under test and what it started and refused."""

    def __init__(self, auth: WebAuth) -> None:
        self.auth = auth
        self.jobs: list[dict] = []
        self.url = ""

    def app(self) -> Starlette:
        async def index(request: Request) -> HTMLResponse:
            return HTMLResponse(f"<form method=post action=/jobs>{self.auth.csrf_field(request)}</form>")

        async def post_job(request: Request) -> RedirectResponse | JSONResponse:
            if request.url.path.startswith("/api/"):
                form = await request.json()
            else:
                form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            try:
                actor = self.auth.authorize(request, form["action"], form["service"], form["environment"])
            except AccessDenied as exc:
                return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=exc.http_status)
            self.jobs.append({**form, "actor": actor})
            return RedirectResponse(f"/jobs/{len(self.jobs)}", status_code=303)

        return Starlette(routes=[Route("/", index), Route("/jobs", post_job, methods=["POST"]),
                                 Route("/api/jobs", post_job, methods=["POST"]), *self.auth.routes()],
                         middleware=self.auth.middleware())


@pytest.fixture()
def issuer(tmp_path: Path):
    with GcpStandIn(tmp_path / "gcp") as standin:
        admin = AdminClient(standin.base_url)
        admin.add_oidc_user(ALICE, ["payments-oncall"], name="Alice")
        admin.add_oidc_user(BOB, ["staff"])
        admin.add_oidc_user(CAROL, [])
        yield standin


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def make_page(tmp_path: Path, issuer: GcpStandIn, clock: Clock):
    """Start a page with the given flags (AuthOptions fields); yields (page, refusals)."""
    config = config_folder(tmp_path / "config")
    (tmp_path / "secret").write_text(CLIENT_SECRET)
    (tmp_path / "groups.yaml").write_text(f"groups:\n  release-managers: [{CAROL}]\n")
    started = []

    def make(oidc: bool = True, **flags: object) -> tuple[Page, list[Refusal]]:
        refusals: list[Refusal] = []
        options = AuthOptions(state_dir=tmp_path / "state", **({
            "oidc_issuer": issuer.base_url, "oidc_client_id": CLIENT_ID,
            "oidc_client_secret_file": tmp_path / "secret", "groups_file": tmp_path / "groups.yaml"} if oidc else {}),
            **flags)  # type: ignore[arg-type]
        page = Page(WebAuth(resolve(options), lambda: load_config(config), on_refusal=refusals.append, clock=clock))
        context = serve(page.app())
        page.url = context.__enter__()
        started.append(context)
        AdminClient(issuer.base_url).add_oidc_client(CLIENT_ID, CLIENT_SECRET, [page.url + "/auth/callback"])
        return page, refusals

    yield make
    for context in started:
        context.__exit__(None, None, None)


def sign_in(page: Page, email: str) -> requests.Session:
    browser = requests.Session()
    answer = browser.get(f"{page.url}/login", params={"login_hint": email, "next": "/"}, timeout=10)
    assert answer.status_code == 200 and answer.url == page.url + "/", (answer.status_code, answer.url, answer.text)
    return browser


def csrf_of(browser: requests.Session, page: Page) -> str:
    return browser.get(page.url + "/auth/session", timeout=10).json()["csrfToken"]


def deploy(browser: requests.Session, page: Page, environment: str = "production", action: str = "deploy",
           token: str | None = "ask", **kwargs: object) -> requests.Response:
    form = {"action": action, "service": "hello", "environment": environment}
    if token == "ask":
        token = csrf_of(browser, page)
    if token is not None:
        form["csrf_token"] = token
    return browser.post(page.url + "/jobs", data=form, allow_redirects=False, timeout=10, **kwargs)


def test_sign_in_through_the_issuer_then_deploy_production_as_a_member(make_page) -> None:
    page, refusals = make_page()
    browser = sign_in(page, ALICE)
    cookie = next(c for c in browser.cookies if c.name == "deployer_session")
    assert cookie.has_nonstandard_attr("httponly") and not cookie.secure
    me = browser.get(page.url + "/auth/session", timeout=10).json()
    assert me["email"] == ALICE and me["groups"] == ["payments-oncall"] and me["via"] == "oidc"
    answer = deploy(browser, page)
    assert answer.status_code == 303, answer.text
    assert page.jobs == [{"action": "deploy", "service": "hello", "environment": "production",
                          "csrf_token": me["csrfToken"], "actor": f"web:{ALICE}"}]
    assert refusals == []


def test_the_session_cookie_is_httponly_samesite_lax_and_bounded(make_page) -> None:
    page, _ = make_page(session_lifetime="2h")
    browser = requests.Session()
    first = browser.get(f"{page.url}/login", params={"login_hint": ALICE}, allow_redirects=False, timeout=10)
    header = first.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "max-age=7200" in header and "secure" not in header


def test_groups_come_from_the_mapping_file_too(make_page) -> None:
    page, _ = make_page()
    browser = sign_in(page, CAROL)
    assert browser.get(page.url + "/auth/session", timeout=10).json()["groups"] == ["release-managers"]
    assert deploy(browser, page, action="rollback").status_code == 303
    assert deploy(browser, page, action="deploy").status_code == 403


def test_a_production_post_by_a_non_member_is_refused_and_audited(make_page) -> None:
    page, refusals = make_page()
    browser = sign_in(page, BOB)
    answer = deploy(browser, page)
    assert answer.status_code == 403
    assert "membership of payments-oncall" in answer.json()["error"]
    assert page.jobs == []
    assert [(r.actor, r.action, r.service, r.environment) for r in refusals] == \
        [(f"web:{BOB}", "deploy", "hello", "production")]
    assert deploy(browser, page, environment="staging").status_code == 303  # staging names no group


def test_a_foreign_host_is_refused_before_anything_runs(make_page) -> None:
    page, refusals = make_page()
    browser = sign_in(page, ALICE)
    token = csrf_of(browser, page)
    # DNS rebinding: the browser sends the attacker's name as Host, with the victim's cookie
    answer = deploy(browser, page, token=token, headers={"Host": "attacker.example"})
    assert answer.status_code == 400 and "attacker.example" in answer.text
    assert browser.get(page.url + "/", headers={"Host": "attacker.example:80"}, timeout=10).status_code == 400
    assert page.jobs == []
    assert browser.get(page.url + "/", headers={"Host": "localhost:1234"}, timeout=10).status_code == 200


def test_an_allowed_host_flag_replaces_the_defaults(make_page) -> None:
    page, _ = make_page(allowed_hosts=("deploy.example.com",))
    assert requests.get(page.url + "/", timeout=10).status_code == 400
    assert requests.get(page.url + "/", headers={"Host": "deploy.example.com"}, timeout=10).status_code == 200


def test_a_post_without_the_csrf_token_is_refused(make_page) -> None:
    page, refusals = make_page()
    browser = sign_in(page, ALICE)
    assert deploy(browser, page, token=None).status_code == 403
    assert deploy(browser, page, token="x" * 43).status_code == 403
    other = sign_in(page, ALICE)  # another session's token is no good here either
    assert deploy(browser, page, token=csrf_of(other, page)).status_code == 403
    api = browser.post(page.url + "/api/jobs", json={"action": "deploy", "service": "hello",
                                                     "environment": "production"}, timeout=10)
    assert api.status_code == 403 and "CSRF" in api.json()["error"]
    assert page.jobs == []
    assert len(refusals) == 4
    with_header = browser.post(page.url + "/api/jobs", json={"action": "deploy", "service": "hello",
                                                             "environment": "production"},
                               headers={"X-CSRF-Token": csrf_of(browser, page)}, allow_redirects=False, timeout=10)
    assert with_header.status_code == 303


def test_a_forged_forwarded_user_from_a_non_proxy_address_is_refused(make_page) -> None:
    page, refusals = make_page(trusted_proxies=("10.9.9.9/32",))
    browser = sign_in(page, BOB)
    token = csrf_of(browser, page)
    forged = {"X-Forwarded-User": ALICE, "X-Forwarded-Groups": "payments-oncall"}
    answer = deploy(browser, page, token=token, headers=forged)
    assert answer.status_code == 403 and "not a trusted proxy" in answer.text
    # refused, not ignored: even without a session the request does not go on as someone else
    assert requests.post(page.url + "/jobs", data={"action": "deploy", "service": "hello", "environment": "staging"},
                         headers={"X-Forwarded-User": ALICE}, allow_redirects=False, timeout=10).status_code == 403
    assert page.jobs == []
    assert all("not a trusted proxy" in r.reason for r in refusals) and len(refusals) == 2


def test_a_trusted_proxy_names_the_user_and_groups(make_page) -> None:
    page, _ = make_page(oidc=False, trusted_proxies=("127.0.0.1/32",))
    proxy = requests.Session()
    proxy.headers.update({"X-Forwarded-User": ALICE, "X-Forwarded-Groups": "staff, payments-oncall"})
    me = proxy.get(page.url + "/auth/session", timeout=10).json()
    assert me["email"] == ALICE and me["groups"] == ["payments-oncall", "staff"] and me["via"] == "proxy"
    assert deploy(proxy, page).status_code == 303
    assert page.jobs[0]["actor"] == f"web:{ALICE}"
    nobody = requests.post(page.url + "/jobs", data={"action": "deploy", "service": "hello",
                                                     "environment": "staging"}, allow_redirects=False, timeout=10)
    assert nobody.status_code == 403  # no proxy header, no session: no CSRF token, and nobody to act as


def test_nobody_signed_in_may_not_deploy_when_sign_in_is_configured(make_page) -> None:
    page, _ = make_page()
    browser = requests.Session()
    answer = deploy(browser, page, environment="staging")
    assert answer.status_code == 401 and "signed-in" in answer.json()["error"]
    assert page.jobs == []


def test_a_session_ends_after_its_lifetime_even_when_used(make_page, clock) -> None:
    page, _ = make_page(session_lifetime="1h")
    browser = sign_in(page, ALICE)
    clock.offset = 3500
    assert deploy(browser, page, environment="staging").status_code == 303
    clock.offset = 3601
    assert deploy(browser, page, environment="staging").status_code == 401


def test_a_tampered_session_cookie_signs_nobody_in(make_page) -> None:
    page, _ = make_page()
    browser = sign_in(page, BOB)
    cookie = browser.cookies.get("deployer_session")
    browser.cookies.set("deployer_session", cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB"),
                        domain="127.0.0.1", path="/")
    assert browser.get(page.url + "/auth/session", timeout=10).json()["email"] is None


def test_a_callback_with_a_state_this_session_did_not_start_fails(make_page, issuer) -> None:
    page, _ = make_page()
    victim = requests.Session()
    start = victim.get(f"{page.url}/login", params={"login_hint": ALICE}, allow_redirects=False, timeout=10)
    at_issuer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = at_issuer.headers["Location"]
    attacker = requests.Session()  # login CSRF: the callback opened in another browser
    answer = attacker.get(callback, allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "Sign-in failed" in answer.text
    assert attacker.get(page.url + "/auth/session", timeout=10).json()["email"] is None
    assert parse_qs(urlsplit(callback).query)["state"]


def test_an_api_caller_signs_in_with_a_bearer_id_token(make_page, issuer) -> None:
    page, _ = make_page()
    token = _id_token(issuer, page, ALICE)
    answer = requests.post(page.url + "/api/jobs", json={"action": "deploy", "service": "hello",
                                                         "environment": "production"},
                           headers={"Authorization": f"Bearer {token}"}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and page.jobs[0]["actor"] == f"web:{ALICE}"
    AdminClient(issuer.base_url).add_oidc_client("other-app", "other-secret", [page.url + "/cb"])
    foreign = _id_token(issuer, page, ALICE, client=("other-app", "other-secret"), redirect=page.url + "/cb")
    refused = requests.post(page.url + "/api/jobs", json={"action": "deploy", "service": "hello",
                                                          "environment": "production"},
                            headers={"Authorization": f"Bearer {foreign}"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 401 and "ID token" in refused.json()["error"]
    assert len(page.jobs) == 1


def test_the_client_secret_never_reaches_a_page_or_a_refusal(make_page, capfd) -> None:
    page, refusals = make_page()
    browser = sign_in(page, BOB)
    texts = [deploy(browser, page).text, browser.get(page.url + "/auth/session", timeout=10).text,
             repr(page.auth.settings), *(r.reason for r in refusals)]
    out, err = capfd.readouterr()
    assert CLIENT_SECRET not in "".join(texts) + out + err


def _id_token(issuer: GcpStandIn, page: Page, email: str, client: tuple[str, str] = (CLIENT_ID, CLIENT_SECRET),
              redirect: str | None = None) -> str:
    redirect = redirect or page.url + "/auth/callback"
    code_answer = requests.get(issuer.base_url + "/o/oauth2/v2/auth", allow_redirects=False, timeout=10, params={
        "client_id": client[0], "redirect_uri": redirect, "response_type": "code", "scope": "openid email",
        "login_hint": email})
    code = parse_qs(urlsplit(code_answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(issuer.base_url + "/token", auth=client, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
    return tokens.json()["id_token"]
