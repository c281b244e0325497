"""Security keys in the Console, in-process with a software authenticator playing the
browser's navigator.credentials: Add security key or passkey in My profile (the first key
turns MFA on and shows the recovery codes), the key list, signing in with password + key,
removing keys. The same story in a real Chromium with its virtual authenticator is
tests/e2e/test_passkeys_browser.py."""

from __future__ import annotations

import json
import re

import pytest

from tests.api.conftest import PUBLIC_URL, Site
from tests.api.test_console import Browser, new_user_signed_in
from tests.support.softkey import SoftKey

TICKET = re.compile(r'name="ticket" value="([^"]+)"')


async def add_key(browser: Browser, key: SoftKey, name: str) -> str:
    await browser.get("/profile")
    options = await browser.post("/profile/keys/options")
    assert options.status_code == 200, options.text
    body = options.json()
    answer = await browser.post(
        "/profile/keys",
        {
            "challenge_id": body["challenge_id"],
            "credential": json.dumps(key.create(body["options"])),
            "name": name,
        },
    )
    return answer.text if answer.status_code == 200 else str(answer.status_code)


async def sign_in_with_key(browser: Browser, key: SoftKey, username: str = "alice") -> int:
    await browser.get("/sign-in")
    step = await browser.post(
        "/sign-in", {"username": username, "password": "correct horse battery"}
    )
    assert "Use security key or passkey" in step.text
    found = TICKET.search(step.text)
    assert found is not None
    ticket = found.group(1)
    options = (await browser.post("/sign-in/key/options", {"ticket": ticket})).json()
    answer = await browser.post(
        "/sign-in/key",
        {
            "ticket": ticket,
            "challenge_id": options["challenge_id"],
            "credential": json.dumps(key.get(options["options"])),
        },
    )
    return answer.status_code


@pytest.fixture
async def alice(site: Site) -> Browser:
    return await new_user_signed_in(site, "alice")


async def test_add_a_key_sign_out_and_sign_in_with_password_and_key(
    site: Site, alice: Browser
) -> None:
    key = SoftKey("localhost", PUBLIC_URL)
    shown = await add_key(alice, key, "YubiKey")
    assert "Refresh your SSH credentials: run sshgate login -f" in shown  # codes shown once
    profile = (await alice.get("/profile")).text
    assert "YubiKey" in profile and "Add security key or passkey" in profile
    await alice.post("/sign-out")
    assert await sign_in_with_key(alice, key) == 303
    [bearer] = [v for v in alice.client.cookies.values() if v.startswith("sgs_")]
    principal = await site.accounts.session_from_token(bearer)
    assert principal.amr == ("pwd", "hwk", "mfa")
    listed = (await alice.get("/profile")).text
    assert "never" not in listed  # last used now


async def test_a_key_answer_for_another_origin_is_refused_at_sign_in(
    site: Site, alice: Browser
) -> None:
    key = SoftKey("localhost", PUBLIC_URL)
    await add_key(alice, key, "YubiKey")
    await alice.post("/sign-out")
    key.origin = "http://localhost.evil.example"
    assert await sign_in_with_key(alice, key) == 401


async def test_removing_the_last_key_asks_for_a_code(site: Site, alice: Browser) -> None:
    key = SoftKey("localhost", PUBLIC_URL)
    shown = await add_key(alice, key, "YubiKey")
    codes = sorted(set(re.findall(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", shown)))
    assert len(codes) == 10
    profile = (await alice.get("/profile")).text
    key_id = re.search(r'action="/profile/keys/([^"/]+)/remove"', profile)
    assert key_id is not None and "your last key" in profile
    path = f"/profile/keys/{key_id.group(1)}/remove"
    refused = await alice.post(path, {"password": "correct horse battery", "code": "000000"})
    assert refused.status_code == 400
    removed = await alice.post(path, {"password": "correct horse battery", "code": codes[0]})
    assert removed.status_code == 200 and "MFA is off" in removed.text


async def test_with_an_ip_address_public_url_the_profile_says_why_keys_are_unavailable(
    site: Site, alice: Browser
) -> None:
    site.accounts.keys._public_url = "http://127.0.0.1:8022"
    profile = (await alice.get("/profile")).text
    assert "browsers refuse an IP address" in profile
    assert "Set up application" in profile  # the authenticator app keeps working
