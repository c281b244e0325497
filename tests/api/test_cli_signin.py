"""`sshgate login --web`'s server side, in-process: the Console's allow page and the token
endpoint (OAuth 2.0 authorization code for native apps, RFC 8252, with PKCE S256, through
Authlib). A code works once, with its own verifier and redirect URI, and gives a login
session with the amr of the sign-in that allowed it."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from sshgate.accounts.bearer import bearer_hash
from sshgate.accounts.service import DEFAULT_SESSION_TTL
from sshgate.services import cli_signin
from tests.api.conftest import PASSWORD, Site
from tests.api.test_console import Browser, new_user_signed_in

REDIRECT = "http://127.0.0.1:53123/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(challenge: str, state: str = "st4te", redirect: str = REDIRECT) -> str:
    params = {
        "response_type": "code",
        "client_id": "sshgate-cli",
        "redirect_uri": redirect,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "host": "laptop",
    }
    return "/oauth/authorize?" + urlencode(params)


async def allow(browser: Browser, challenge: str, decision: str = "allow") -> dict[str, list[str]]:
    page = await browser.get(authorize_url(challenge))
    assert "Allow sshgate on laptop to get SSH certificates for alice?" in page.text
    # the Allow form's redirect may go to the CLI's loopback address, nowhere else
    assert "form-action 'self' http://127.0.0.1:*;" in page.headers["content-security-policy"]
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
    fields.pop("csrf", None)
    answer = await browser.post("/oauth/authorize", {**fields, "decision": decision})
    assert answer.status_code == 303, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


async def exchange(
    site: Site, code: str, verifier: str, redirect: str = REDIRECT
) -> httpx.Response:
    return await site.client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "sshgate-cli",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect,
        },
    )


async def change_password(browser: Browser) -> None:
    await browser.get("/profile")
    new = "a brand new passphrase 42"
    changed = await browser.post(
        "/profile/password",
        {"old_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert changed.status_code == 200 and "Your password was changed" in changed.text


async def sign_out(browser: Browser) -> None:
    await browser.get("/profile")
    assert (await browser.post("/sign-out")).status_code in (200, 303)


async def session_end(site: Site, bearer: str) -> float:
    session = await site.store.get_login_session(bearer_hash(bearer))
    assert session is not None
    return session.expires_at


# what ends the Console session that allowed a grant, before the CLI takes it
ENDINGS = {"password change": change_password, "sign-out": sign_out}


@pytest.fixture
async def alice(site: Site) -> Browser:
    return await new_user_signed_in(site, "alice")


async def test_allowing_gives_a_code_that_opens_a_session_with_the_sign_in_amr(
    site: Site, alice: Browser
) -> None:
    verifier, challenge = pkce()
    answer = await allow(alice, challenge)
    assert answer["state"] == ["st4te"]
    token = await exchange(site, answer["code"][0], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["amr"] == ["pwd"]
    account = await site.client.get(
        "/api/account", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert account.status_code == 200 and account.json()["username"] == "alice"


async def test_a_code_works_once(site: Site, alice: Browser) -> None:
    verifier, challenge = pkce()
    code = (await allow(alice, challenge))["code"][0]
    assert (await exchange(site, code, verifier)).status_code == 200
    again = await exchange(site, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_code_with_the_wrong_verifier_is_refused_and_spent(
    site: Site, alice: Browser
) -> None:
    verifier, challenge = pkce()
    code = (await allow(alice, challenge))["code"][0]
    wrong = await exchange(site, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert (await exchange(site, code, verifier)).status_code == 400  # a stolen code is gone


async def test_a_code_for_another_redirect_or_too_old_is_refused(
    site: Site, alice: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier, challenge = pkce()
    code = (await allow(alice, challenge))["code"][0]
    moved = await exchange(site, code, verifier, "http://127.0.0.1:9/callback")
    assert moved.status_code == 400
    verifier, challenge = pkce()
    code = (await allow(alice, challenge))["code"][0]
    assert (await exchange(site, code, verifier)).status_code == 200
    monkeypatch.setattr(cli_signin, "CODE_TTL", -1.0)  # born expired
    verifier, challenge = pkce()
    code = (await allow(alice, challenge))["code"][0]
    assert (await exchange(site, code, verifier)).status_code == 400


async def test_denying_sends_access_denied_and_no_code(site: Site, alice: Browser) -> None:
    answer = await allow(alice, pkce()[1], "deny")
    assert answer["error"] == ["access_denied"] and "code" not in answer
    assert answer["state"] == ["st4te"]


@pytest.mark.parametrize(
    "redirect",
    ["http://evil.example/callback", "https://127.0.0.1:5/callback", "http://127.0.0.1/callback"],
)
async def test_only_a_loopback_redirect_is_accepted(
    site: Site, alice: Browser, redirect: str
) -> None:
    page = await alice.get(authorize_url(pkce()[1], redirect=redirect))
    assert page.status_code == 400 and "not valid" in page.text


@pytest.mark.parametrize("param", ["redirect_uri", "response_type"])
@pytest.mark.parametrize(
    "odd", ['"', "\\", "\x00", "\x7f", "é"], ids=["quote", "backslash", "nul", "del", "non-ascii"]
)
async def test_a_request_with_characters_an_oauth_error_cannot_carry_is_refused_not_a_crash(
    site: Site, alice: Browser, param: str, odd: str
) -> None:
    query = parse_qs(urlsplit(authorize_url(pkce()[1])).query)
    params = {k: v[0] for k, v in query.items()}
    params[param] += odd
    page = await alice.get("/oauth/authorize?" + urlencode(params))
    assert page.status_code == 400 and "not valid" in page.text
    await alice.get(authorize_url(pkce()[1]))  # a CSRF token for the form
    answer = await alice.post("/oauth/authorize", {**params, "decision": "allow"})
    assert answer.status_code == 400 and "not valid" in answer.text


async def test_plain_pkce_is_refused(site: Site, alice: Browser) -> None:
    url = authorize_url("x" * 43).replace("S256", "plain")
    page = await alice.get(url)
    assert page.status_code == 400


async def test_a_signed_out_browser_signs_in_first_and_comes_back(site: Site) -> None:
    await site.add_user("alice")
    browser = Browser(site)
    url = authorize_url(pkce()[1])
    first = await browser.get(url)
    assert first.status_code == 303 and first.headers["location"] == "/sign-in"
    signed = await browser.sign_in("alice")
    assert signed.headers["location"] == url


@pytest.mark.parametrize("ending", sorted(ENDINGS))
async def test_a_code_is_refused_once_the_session_that_allowed_it_ended(
    site: Site, alice: Browser, ending: str
) -> None:
    verifier, challenge = pkce()
    code = (await allow(alice, challenge))["code"][0]
    await ENDINGS[ending](alice)
    refused = await exchange(site, code, verifier)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_the_cli_session_ends_no_later_than_the_session_that_allowed_it(
    site: Site, alice: Browser
) -> None:
    site.clock.now += DEFAULT_SESSION_TTL - 100  # the Console session has 100 s left
    verifier, challenge = pkce()
    token = await exchange(site, (await allow(alice, challenge))["code"][0], verifier)
    assert token.status_code == 200, token.text
    assert await session_end(site, token.json()["access_token"]) <= site.clock.now + 100
