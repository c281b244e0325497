"""The Console's pages in-process (httpx over ASGI, a real SQLite store): sign-in with the
Authentication code step, CSRF on every form, the security headers, the session cookie,
org isolation, the MFA 403 page and the Security page's prerequisites. The whole story in a
real browser is tests/e2e/test_console_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pyotp
import pytest

import sshgate.console
from sshgate.store.base import LiveSession
from tests.api.conftest import PASSWORD, Site
from tests.api.test_api_orgs import Orgs, make_orgs

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAGES = ("/projects", "/profile", "/tokens", "/orgs/acme", "/orgs/acme/security")
MFA_PAGE = "Multifactor authentication (MFA) is required by this organization"


class Browser:
    """One person's cookie jar against the app; `post` sends the CSRF token of the last
    page unless told otherwise."""

    def __init__(self, site: Site, https: bool = False) -> None:
        transport = httpx.ASGITransport(app=site.app, client=("192.0.2.20", 50001))
        scheme = "https" if https else "http"
        self.client = httpx.AsyncClient(transport=transport, base_url=f"{scheme}://sshgate.test")
        self.site = site
        self.csrf = ""

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(path)
        self._remember(response)
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, csrf: str | None = None
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf is None:
            body["csrf"] = self.csrf
        elif csrf:
            body["csrf"] = csrf
        response = await self.client.post(path, data=body)
        self._remember(response)
        return response

    def _remember(self, response: httpx.Response) -> None:
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)

    async def sign_in(self, username: str, code: str | None = None) -> httpx.Response:
        await self.get("/sign-in")
        answer = await self.post("/sign-in", {"username": username, "password": PASSWORD})
        if code is not None:
            assert "Authentication code" in answer.text
            ticket = re.search(r'name="ticket" value="([^"]+)"', answer.text)
            assert ticket is not None
            answer = await self.post("/sign-in/code", {"ticket": ticket.group(1), "code": code})
        assert answer.status_code == 303, answer.text
        return answer


@pytest.fixture
async def orgs(site: Site) -> Orgs:
    return await make_orgs(site)


@pytest.fixture
async def olga(orgs: Orgs) -> AsyncIterator[Browser]:
    """olga, owner of acme, signed in with her authenticator code."""
    browser = Browser(orgs.site)
    secret = await _secret_of(orgs)
    await browser.sign_in("olga", pyotp.TOTP(secret).at(orgs.site.clock.next_step()))
    yield browser
    await browser.client.aclose()


async def _secret_of(orgs: Orgs) -> str:
    """olga's TOTP secret, opened the way the accounts service does."""
    from sshgate.accounts.second_factor import open_secret

    state = await orgs.site.store.get_mfa_state(orgs.ids["olga"])
    assert state is not None
    box = orgs.site.accounts._box  # the same key the app uses
    secret = open_secret(box, state)
    assert secret is not None
    return secret


async def new_user_signed_in(site: Site, username: str) -> Browser:
    """A new user without MFA, signed in to the Console."""
    await site.add_user(username)
    browser = Browser(site)
    await browser.sign_in(username)
    return browser


async def browser_of(orgs: Orgs, username: str) -> Browser:
    browser = Browser(orgs.site)
    await browser.sign_in(username)
    return browser


# headers and templates


async def test_every_page_carries_the_csp_and_referrer_policy(olga: Browser) -> None:
    for path in ("/sign-in", *PAGES, "/static/console.css", "/no-such-page"):
        response = await olga.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers["referrer-policy"] == "no-referrer", path


async def test_each_page_renders_for_an_owner_signed_in_with_mfa(olga: Browser) -> None:
    for path in PAGES:
        response = await olga.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("text/html")


def test_no_template_has_an_inline_script_style_or_event_handler() -> None:
    folder = Path(sshgate.console.__file__).parent / "templates"
    templates = list(folder.rglob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"<style|\sstyle=", text, re.IGNORECASE), template
        assert not re.search(r"\son[a-z]+=", text, re.IGNORECASE), template
        assert "javascript:" not in text.lower(), template


# the session cookie


async def test_the_session_cookie_is_httponly_and_samesite_strict_over_http(site: Site) -> None:
    await site.add_user("alice")
    browser = Browser(site)
    answer = await browser.sign_in("alice")
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("sshgate_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session


async def test_over_https_the_cookies_are_secure_with_the_host_prefix(site: Site) -> None:
    await site.add_user("alice")
    browser = Browser(site, https=True)
    answer = await browser.sign_in("alice")
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if "sshgate_session=" in c)
    assert session.startswith("__Host-sshgate_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert flag in session
    assert "Domain" not in session
    assert all(c.startswith("__Host-") for c in cookies)
    assert (await browser.get("/profile")).status_code == 200


async def test_sign_out_ends_the_login_session(site: Site) -> None:
    await site.add_user("alice")
    browser = Browser(site)
    answer = await browser.sign_in("alice")
    bearer = answer.cookies["sshgate_session"]
    await browser.get("/profile")
    out = await browser.post("/sign-out")
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    again = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app), base_url="http://sshgate.test"
    )
    again.cookies.set("sshgate_session", bearer)
    stale = await again.get("/profile")
    assert stale.status_code == 303 and stale.headers["location"] == "/sign-in"
    api = await site.client.get("/api/account", headers={"Authorization": f"Bearer {bearer}"})
    assert api.status_code == 401


async def test_a_page_needs_a_session(site: Site) -> None:
    browser = Browser(site)
    for path in PAGES:
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/sign-in"


# sign in


async def test_sign_in_with_mfa_asks_for_the_code_and_takes_a_recovery_code(site: Site) -> None:
    await site.add_user("alice")
    bearer = await site.token("alice")
    _, codes = await site.enable_mfa(bearer)
    browser = Browser(site)
    await browser.get("/sign-in")
    first = await browser.post("/sign-in", {"username": "alice", "password": PASSWORD})
    assert first.status_code == 200 and "Authentication code" in first.text
    assert "sshgate_session" not in first.cookies
    ticket = re.search(r'name="ticket" value="([^"]+)"', first.text)
    assert ticket is not None
    wrong = await browser.post("/sign-in/code", {"ticket": ticket.group(1), "code": "000000"})
    assert wrong.status_code == 401 and "sshgate_session" not in wrong.cookies
    right = await browser.post("/sign-in/code", {"ticket": ticket.group(1), "code": codes[0]})
    assert right.status_code == 303 and "sshgate_session" in right.cookies
    tokens = await browser.get("/tokens")
    assert "pwd, otp, mfa" in tokens.text


async def test_a_forged_sign_in_ticket_is_refused(site: Site) -> None:
    await site.add_user("alice")
    browser = Browser(site)
    await browser.get("/sign-in")
    answer = await browser.post("/sign-in/code", {"ticket": "AAAA" * 20, "code": "123456"})
    assert answer.status_code == 401 and "sshgate_session" not in answer.cookies


async def test_a_wrong_password_says_the_same_as_an_unknown_user(site: Site) -> None:
    await site.add_user("alice")
    browser = Browser(site)
    await browser.get("/sign-in")
    wrong = await browser.post("/sign-in", {"username": "alice", "password": "nope nope"})
    unknown = await browser.post("/sign-in", {"username": "zed", "password": "nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "invalid username or password" in wrong.text
        and "invalid username or password" in unknown.text
    )


# CSRF


@pytest.mark.parametrize("csrf", ["", "0" * 64], ids=["missing", "wrong"])
async def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(
    orgs: Orgs, olga: Browser, csrf: str
) -> None:
    switched = await olga.post(
        "/orgs/acme/mfa-required", {"required": "on", "confirm": "yes"}, csrf
    )
    assert switched.status_code == 403
    org = await orgs.site.store.get_org("acme")
    assert org is not None and not org.mfa_required
    changed = await olga.post(
        "/profile/password",
        {
            "old_password": PASSWORD,
            "new_password": "a new long password",
            "confirm_password": "a new long password",
        },
        csrf,
    )
    assert changed.status_code == 403
    assert (await orgs.site.login("bob")).status_code == 200  # sessions were not ended
    assert (await olga.get("/profile")).status_code == 200
    made = await olga.post("/tokens", {"name": "ci"}, csrf)
    assert made.status_code == 403
    assert len(await orgs.site.store.list_api_tokens(orgs.ids["olga"])) == 1  # the fixture's


async def test_a_csrf_token_of_another_browser_is_refused(orgs: Orgs, olga: Browser) -> None:
    bob = await browser_of(orgs, "bob")
    await bob.get("/tokens")
    answer = await olga.post("/tokens", {"name": "ci"}, bob.csrf)
    assert answer.status_code == 403


# org isolation and MFA enforcement


async def test_a_user_cannot_read_or_act_on_an_org_they_are_not_in(orgs: Orgs) -> None:
    eve = await browser_of(orgs, "eve")
    await eve.get("/projects")
    for path in ("/orgs/acme", "/orgs/acme/security"):
        assert (await eve.get(path)).status_code == 404
    reminded = await eve.post("/orgs/acme/reminders", {"all": "without-mfa"})
    assert reminded.status_code == 404
    switched = await eve.post("/orgs/acme/mfa-required", {"required": "on", "confirm": "yes"})
    assert switched.status_code == 404
    org = await orgs.site.store.get_org("acme")
    assert org is not None and not org.mfa_required
    assert await orgs.site.store.list_member_security("acme")  # still there
    assert all(m.last_reminded is None for m in await orgs.site.store.list_member_security("acme"))


async def test_an_org_requiring_mfa_shows_the_403_page_to_a_login_without_mfa(orgs: Orgs) -> None:
    await orgs.site.store.set_mfa_required("acme", True)
    bob = await browser_of(orgs, "bob")
    for path in ("/orgs/acme", "/orgs/acme/security"):
        page = await bob.get(path)
        assert page.status_code == 403
        assert MFA_PAGE in page.text and 'href="/profile#set-up-application"' in page.text
    listing = await bob.get("/projects")
    assert MFA_PAGE in listing.text
    api = await orgs.site.client.get(
        "/api/orgs/acme/security", headers={"Authorization": f"Bearer {await orgs.login('bob')}"}
    )
    assert api.status_code == 401 and api.json()["amr"] == ["mfa"]


# the Security page


async def test_the_owner_sees_who_lacks_mfa_and_switching_on_confirms_the_count(
    orgs: Orgs, olga: Browser
) -> None:
    store, now = orgs.site.store, orgs.site.clock()
    await store.gateway_heartbeat("gw", now)
    await store.open_live_session(
        LiveSession("s1", "gw", orgs.ids["bob"], 7, "acme", False, now - 10, "abcdefg123456")
    )
    page = await olga.get("/orgs/acme/security")
    assert 'aria-checked="false"' in page.text and "toggle-reason" not in page.text
    for name in ("bob", "carol", "dave"):
        assert f'value="{name}"' in page.text
    assert 'value="dave" data-mfa="on"' in page.text and 'value="bob" data-mfa="off"' in page.text
    confirm = await olga.post("/orgs/acme/mfa-required", {"required": "on"})
    assert confirm.status_code == 200
    assert re.search(r"<strong>1</strong> open session of users without MFA", confirm.text)
    org = await store.get_org("acme")
    assert org is not None and not org.mfa_required  # not before the confirmation
    done = await olga.post("/orgs/acme/mfa-required", {"required": "on", "confirm": "yes"})
    assert done.status_code == 303
    org = await store.get_org("acme")
    assert org is not None and org.mfa_required


@pytest.mark.parametrize(
    ("who", "org", "rule", "reason"),
    [
        pytest.param("bob", "acme", "role", "Only an owner or admin", id="member"),
        pytest.param("olga", "plain", "addon", "Advanced User Management", id="no-addon"),
        pytest.param("adam", "acme", "switcher-mfa", "Your own account has no MFA", id="no-mfa"),
    ],
)
async def test_a_missing_prerequisite_disables_the_toggle_and_says_which(
    orgs: Orgs, olga: Browser, who: str, org: str, rule: str, reason: str
) -> None:
    browser = olga if who == "olga" else await browser_of(orgs, who)
    page = await browser.get(f"/orgs/{org}/security")
    assert page.status_code == 200
    assert re.search(r'role="switch" aria-checked="false"\s+disabled', page.text)
    assert f'data-rule="{rule}"' in page.text and reason in page.text
    if rule == "switcher-mfa":
        assert 'href="/profile#set-up-application"' in page.text
    refused = await browser.post(f"/orgs/{org}/mfa-required", {"required": "on", "confirm": "yes"})
    assert refused.status_code == 403
    found = await orgs.site.store.get_org(org)
    assert found is not None and not found.mfa_required


# API tokens


async def test_a_token_is_created_with_its_scope_and_expiry_and_shown_once(
    orgs: Orgs, olga: Browser
) -> None:
    await olga.get("/tokens")
    made = await olga.post("/tokens", {"name": "deploy", "scope": "account", "expires": "2592000"})
    assert made.status_code == 201
    secret = re.search(r'id="new-token">([^<]+)<', made.text)
    assert secret is not None and secret.group(1).startswith("sgt_")
    [token] = [
        t for t in await orgs.site.store.list_api_tokens(orgs.ids["olga"]) if t.name == "deploy"
    ]
    assert token.scope == "account" and token.expires_at is not None
    assert abs(token.expires_at - token.created_at - 2592000) < 5
    listing = await olga.get("/tokens")
    assert secret.group(1) not in listing.text and "deploy" in listing.text
    revoked = await olga.post(f"/tokens/{token.id}/revoke")
    assert revoked.status_code == 303
    assert all(t.name != "deploy" for t in await orgs.site.store.list_api_tokens(orgs.ids["olga"]))


async def test_an_account_token_needs_a_sign_in_with_mfa_when_the_account_has_it(
    orgs: Orgs,
) -> None:
    """bob signs in without MFA, then his account gets MFA: this sign-in may still make
    certificate tokens (an unknown expiry means none), not account ones."""
    bob = await browser_of(orgs, "bob")
    await orgs.site.store.set_mfa_secret(orgs.ids["bob"], b"not-used-here")
    await orgs.site.store.enable_mfa(orgs.ids["bob"], orgs.site.clock())
    await bob.get("/tokens")
    refused = await bob.post("/tokens", {"name": "admin", "scope": "account", "expires": ""})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    made = await bob.post("/tokens", {"name": "ci", "scope": "certificate", "expires": "bogus"})
    assert made.status_code == 201
    [token] = await orgs.site.store.list_api_tokens(orgs.ids["bob"])
    assert (token.name, token.scope, token.expires_at) == ("ci", "certificate", None)


# My profile


async def test_set_up_verify_and_disable_mfa_leave_no_secret_in_a_url_or_a_log(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await site.add_user("alice")
    browser = Browser(site)
    answer = await browser.sign_in("alice")
    bearer = answer.cookies["sshgate_session"]
    await browser.get("/profile")
    started = await browser.post("/profile/mfa/setup")
    assert (
        started.status_code == 303 and started.headers["location"] == "/profile#set-up-application"
    )
    setup = await browser.get("/profile")
    secret = re.search(r'id="totp-secret">([^<]+)<', setup.text)
    assert secret is not None
    plain = secret.group(1).replace(" ", "")
    assert f"secret={plain}" in setup.text  # the otpauth:// URI, in the page
    code = pyotp.TOTP(plain).at(site.clock())
    verified = await browser.post("/profile/mfa/verify", {"code": code})
    assert "Refresh your SSH credentials: run sshgate login -f" in verified.text
    codes = re.findall(r"<li><code>([a-z0-9-]{14})</code></li>", verified.text)
    assert len(codes) == 10
    download = await browser.post("/profile/recovery-codes/download", {"code": codes[0]})
    assert download.headers["content-disposition"].startswith("attachment")
    assert codes[0] in download.text

    wrong = await browser.post(
        "/profile/mfa/disable", {"password": "not it at all", "code": codes[1]}
    )
    assert wrong.status_code == 400
    user = await site.store.get_user_by_name("alice")
    assert user is not None and user.mfa_enabled
    off = await browser.post("/profile/mfa/disable", {"password": PASSWORD, "code": codes[1]})
    assert off.status_code == 200 and "MFA is off" in off.text
    user = await site.store.get_user_by_name("alice")
    assert user is not None and not user.mfa_enabled
    stale = await site.client.get("/api/account", headers={"Authorization": f"Bearer {bearer}"})
    assert stale.status_code == 401  # disabling MFA ended the session

    secrets_seen = [plain, code, PASSWORD, bearer, *codes]
    events = " ".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert "mfa_enabled" in events and "mfa_disabled" in events  # the log lines were seen
    for record in caplog.records:
        line = record.getMessage() + str(record.__dict__)
        assert not any(s in line for s in secrets_seen), line


async def test_a_form_over_the_size_limit_is_refused_before_it_is_read(site: Site) -> None:
    browser = Browser(site)
    await browser.get("/sign-in")
    answer = await browser.post("/sign-in", {"username": "x" * 20000, "password": "y"})
    assert answer.status_code == 413


async def test_the_level_selector_asks_for_the_owners_own_key_login(olga: Browser) -> None:
    """olga signed in with her authenticator code: phishing-resistant is refused, saying
    why; level any goes through its confirmation as before."""
    page = await olga.get("/orgs/acme/security")
    assert 'name="level"' in page.text and "Phishing-resistant" in page.text
    refused = await olga.post(
        "/orgs/acme/mfa-required", {"required": "on", "level": "phishing-resistant"}
    )
    assert refused.status_code == 403
    assert "sign in with a security key or passkey first" in refused.text
    confirm = await olga.post("/orgs/acme/mfa-required", {"required": "on", "level": "any"})
    assert confirm.status_code == 200 and 'name="level" value="any"' in confirm.text


# form limits of the Remind form (Name ticked in a large org) and the session-bound CSRF token


async def _post_fields(
    browser: Browser, path: str, fields: list[tuple[str, str]]
) -> httpx.Response:
    body = urlencode([("csrf", browser.csrf), *fields])
    return await browser.client.post(
        path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


async def test_remind_with_name_and_400_row_boxes_reminds_every_member_without_mfa(
    orgs: Orgs, olga: Browser
) -> None:
    """What console.js used to send for an org with 400 members without MFA: the Name box
    and a box per row. The form is not refused for its field count, and the server honours
    Name (everyone without MFA, whatever rows come with it)."""
    await olga.get("/orgs/acme/security")
    rows = [("user", name) for name in ("adam", "bob", "carol")]
    rows += [("user", f"member{i:03d}") for i in range(397)]
    answer = await _post_fields(olga, "/orgs/acme/reminders", [("all", "without-mfa"), *rows])
    assert answer.status_code == 200, answer.text[:300]
    # this site has no mail server: every member without MFA was tried, and only they
    tried = re.findall(r"Not sent to ([a-z0-9]+):", answer.text)
    assert sorted(tried) == ["adam", "bob", "carol"]
    assert "member000" not in answer.text


async def test_a_form_with_too_many_fields_is_413_not_a_csrf_refusal(
    orgs: Orgs, olga: Browser
) -> None:
    await olga.get("/tokens")
    tokens = await _post_fields(olga, "/tokens", [("name", "ci")] + [("x", "")] * 400)
    assert tokens.status_code == 413 and "expired" not in tokens.text
    await olga.get("/orgs/acme/security")
    rows = [("user", f"m{i}") for i in range(1100)]
    reminded = await _post_fields(olga, "/orgs/acme/reminders", rows)
    assert reminded.status_code == 413 and "expired" not in reminded.text
    members = await orgs.site.store.list_member_security("acme")
    assert all(m.last_reminded is None for m in members)


def _plant_csrf_nonce(browser: Browser, nonce: str) -> None:
    """What a sibling host can do over plain HTTP: set the victim's csrf cookie."""
    jar = browser.client.cookies.jar
    for cookie in list(jar):
        if cookie.name == "sshgate_csrf":
            jar.clear(cookie.domain, cookie.path, cookie.name)
    browser.client.cookies.set("sshgate_csrf", nonce, domain="sshgate.test", path="/")


def _csrf_nonce(browser: Browser) -> str:
    return next(c.value for c in browser.client.cookies.jar if c.name == "sshgate_csrf") or ""


@pytest.mark.parametrize("attacker", ["signed-out", "bob"])
async def test_a_planted_csrf_nonce_with_its_token_from_another_session_is_refused(
    orgs: Orgs, olga: Browser, attacker: str
) -> None:
    """The attacker loads a form (signed out, or in their own session), plants that nonce as
    the victim's csrf cookie and posts the token they were given with the victim's session:
    403, nothing done. The victim's own token still works."""
    other = Browser(orgs.site) if attacker == "signed-out" else await browser_of(orgs, attacker)
    await other.get("/sign-in" if attacker == "signed-out" else "/tokens")
    nonce, token = _csrf_nonce(other), other.csrf
    _plant_csrf_nonce(olga, nonce)
    answer = await olga.post("/tokens", {"name": "planted"}, token)
    assert answer.status_code == 403
    assert len(await orgs.site.store.list_api_tokens(orgs.ids["olga"])) == 1  # the fixture's
    await olga.get("/tokens")
    assert (await olga.post("/tokens", {"name": "mine"})).status_code == 201
    assert len(await orgs.site.store.list_api_tokens(orgs.ids["olga"])) == 2
    await other.client.aclose()


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://sshgate.test", "sshgate.test"),
        ("https://Console.Example:8443", "console.example:8443"),
        ("https://console.example:8443/sign-in?x=1", "console.example:8443"),
        ("http://[::1]:8080", "[::1]:8080"),
        ("null", ""),
        ("javascript:alert(1)", ""),
        ("http://host:99999", ""),  # no such port
        ("ftp://sshgate.test", ""),
        ("http://" + "a" * 3000, ""),
    ],
)
def test_the_host_an_origin_names(url: str, host: str) -> None:
    from sshgate.console._web import origin_host

    assert origin_host(url) == host


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-site"},  # a sibling host: login CSRF over plain HTTP
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.sshgate.test"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://sshgate.test.evil.example"},
    ],
    ids=["same-site", "cross-site", "sibling-origin", "lookalike-origin"],
)
async def test_a_sign_in_posted_from_another_origin_is_refused_before_the_password_is_checked(
    orgs: Orgs, headers: dict[str, str]
) -> None:
    """A sibling host can set a signed-out browser's csrf cookie over plain HTTP and post the
    sign-in form with its own token and its own account (login CSRF); the browser's
    fetch-metadata and Origin headers give it away: 403, and no session."""
    browser = Browser(orgs.site)
    await browser.get("/sign-in")
    browser.client.headers.update(headers)
    answer = await browser.post("/sign-in", {"username": "bob", "password": PASSWORD})
    assert answer.status_code == 403
    assert not any(c.name == "sshgate_session" for c in browser.client.cookies.jar)
    await browser.client.aclose()


async def test_a_sign_in_with_a_browsers_same_origin_headers_goes_through(orgs: Orgs) -> None:
    """What Chromium sends for the Console's own form (no-referrer policy: Origin null)."""
    browser = Browser(orgs.site)
    await browser.get("/sign-in")
    browser.client.headers.update({"Sec-Fetch-Site": "same-origin", "Origin": "null"})
    assert (await browser.sign_in("bob")).status_code == 303
    browser.client.headers.update({"Origin": "http://sshgate.test"})
    await browser.get("/tokens")
    assert (await browser.post("/tokens", {"name": "ci"})).status_code == 201
    await browser.client.aclose()
