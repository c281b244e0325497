"""`sshgate login --device`'s server side (RFC 8628, through Authlib), in-process: the CLI
gets a device code and a short user code, the person approves or denies it in the Console
at /device, the CLI's polls answer authorization_pending, slow_down, access_denied,
expired_token, or a login session with the approving sign-in's amr, once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sshgate.accounts.service import DEFAULT_SESSION_TTL
from sshgate.services import cli_signin
from tests.api.conftest import CLIENT_ADDRESS, Site
from tests.api.test_cli_signin import ENDINGS, session_end
from tests.api.test_console import Browser, new_user_signed_in

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def start(site: Site) -> dict[str, Any]:
    answer = await site.client.post(
        "/oauth/device_authorization", data={"client_id": "sshgate-cli"}
    )
    assert answer.status_code == 200, answer.text
    body = dict(answer.json())
    assert body["verification_uri"].endswith("/device") and body["interval"] == 5
    assert len(body["user_code"]) == 9 and body["user_code"][4] == "-"
    return body


async def poll(site: Site, device_code: str) -> httpx.Response:
    return await site.client.post(
        "/oauth/token",
        data={"grant_type": GRANT, "device_code": device_code, "client_id": "sshgate-cli"},
    )


async def decide(browser: Browser, user_code: str, decision: str) -> httpx.Response:
    await browser.get("/device")
    review = await browser.post("/device", {"user_code": user_code, "decision": "review"})
    if review.status_code != 200:
        return review
    assert "Allow it only if this code is the one your own terminal shows" in review.text
    return await browser.post("/device", {"user_code": user_code, "decision": decision})


@pytest.fixture
async def alice(site: Site) -> Browser:
    return await new_user_signed_in(site, "alice")


async def test_approved_in_the_browser_the_cli_gets_a_session_once(
    site: Site, alice: Browser
) -> None:
    started = await start(site)
    pending = await poll(site, started["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    typed = started["user_code"].lower().replace("-", " ")  # as people type it
    approved = await decide(alice, typed, "allow")
    assert approved.status_code == 200 and "go back to the terminal" in approved.text
    token = await poll(site, started["device_code"])
    assert token.status_code == 200, token.text
    assert token.json()["amr"] == ["pwd"]
    account = await site.client.get(
        "/api/account", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert account.json()["username"] == "alice"
    again = await poll(site, started["device_code"])
    assert again.status_code == 400  # taken once


async def test_denied_in_the_browser_the_cli_gets_access_denied(site: Site, alice: Browser) -> None:
    started = await start(site)
    await decide(alice, started["user_code"], "deny")
    denied = await poll(site, started["device_code"])
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"
    late = await decide(alice, started["user_code"], "allow")  # decided once
    assert late.status_code == 400


async def test_an_expired_device_code_answers_expired_token(
    site: Site, alice: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_signin, "DEVICE_TTL", -1)
    started = await start(site)
    refused = await decide(alice, started["user_code"], "allow")
    assert refused.status_code == 400 and "expired" in refused.text
    expired = await poll(site, started["device_code"])
    assert expired.status_code == 400 and expired.json()["error"] == "expired_token"


async def test_polling_faster_than_the_interval_answers_slow_down(site: Site) -> None:
    started = await start(site)
    assert (await poll(site, started["device_code"])).json()["error"] == "authorization_pending"
    assert (await poll(site, started["device_code"])).json()["error"] == "slow_down"


async def test_an_unknown_device_code_is_refused(site: Site) -> None:
    refused = await poll(site, "not-a-device-code")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


@pytest.mark.parametrize("ending", sorted(ENDINGS))
async def test_an_approval_is_refused_once_the_session_that_approved_it_ended(
    site: Site, alice: Browser, ending: str
) -> None:
    started = await start(site)
    assert (await decide(alice, started["user_code"], "allow")).status_code == 200
    await ENDINGS[ending](alice)
    refused = await poll(site, started["device_code"])
    assert refused.status_code == 400, refused.text
    assert "access_token" not in refused.json()


async def test_the_cli_session_ends_no_later_than_the_session_that_approved_it(
    site: Site, alice: Browser
) -> None:
    site.clock.now += DEFAULT_SESSION_TTL - 100  # the Console session has 100 s left
    started = await start(site)
    assert (await decide(alice, started["user_code"], "allow")).status_code == 200
    token = await poll(site, started["device_code"])
    assert token.status_code == 200, token.text
    assert await session_end(site, token.json()["access_token"]) <= site.clock.now + 100


async def test_a_link_with_a_code_does_not_fill_it_in_the_person_types_it(
    site: Site, alice: Browser
) -> None:
    started = await start(site)
    assert "verification_uri_complete" not in started
    page = await alice.get("/device?user_code=" + started["user_code"])
    assert page.status_code == 200
    assert started["user_code"] not in page.text
    assert 'name="user_code" value=""' in page.text


async def test_the_approval_page_shows_when_and_from_where_the_request_came(
    site: Site, alice: Browser
) -> None:
    started = await start(site)
    await alice.get("/device")
    review = await alice.post("/device", {"user_code": started["user_code"], "decision": "review"})
    assert review.status_code == 200
    assert f"Code <code>{started['user_code']}</code>, requested at 20" in review.text
    assert f"from {CLIENT_ADDRESS}." in review.text  # the address that asked for the device code
    assert "deny it: they would get SSH certificates as you" in review.text
