"""The "MFA required" level over the API: at phishing-resistant only logins with a security
key or passkey (`hwk`) count. The switch needs the switcher's own key login, the org's
resources answer RFC 9470's 401 with "amr": ["hwk"] to a login with an authenticator code,
and the count of sessions to close includes those without a key.

A key login is opened here through the accounts service with the amr a WebAuthn sign-in
gives (the ceremony itself is tested in test_api_security_keys.py)."""

from __future__ import annotations

import pytest

from sshgate.api import MFA_REQUIRED_MESSAGE
from sshgate.policy.amr import WITH_KEY
from sshgate.policy.model import MFALevel
from sshgate.policy.org_security import SWITCHER_WITHOUT_KEY
from sshgate.store.base import LiveSession
from tests.api.conftest import Site, auth
from tests.api.test_api_orgs import STEP_UP_HEADER, Orgs, make_orgs

PR = "phishing-resistant"


@pytest.fixture
async def orgs(site: Site) -> Orgs:
    return await make_orgs(site)


async def key_login(orgs: Orgs, username: str) -> str:
    user = await orgs.site.store.get_user(orgs.ids[username])
    assert user is not None
    opened = await orgs.site.accounts.open_session(user, WITH_KEY, orgs.site.clock(), "test")
    return opened.token


async def switch(orgs: Orgs, bearer: str, level: str, required: bool = True) -> dict[str, object]:
    response = await orgs.site.client.put(
        "/api/orgs/acme/mfa-required",
        json={"required": required, "level": level},
        headers=auth(bearer),
    )
    return {"status": response.status_code, **response.json()}


async def test_an_owner_signed_in_with_an_authenticator_code_cannot_choose_phishing_resistant(
    orgs: Orgs,
) -> None:
    answer = await switch(orgs, orgs.olga_mfa, PR)
    assert answer == {
        "status": 403,
        "error": "forbidden",
        "rule": "switcher-key",
        "message": SWITCHER_WITHOUT_KEY.format(org="acme"),
    }
    found = await orgs.site.store.get_org("acme")
    assert found is not None and not found.mfa_required
    [record] = await orgs.audit()
    assert (record.event.decision, record.event.reason) == ("deny", "switcher-key")


async def test_an_owner_signed_in_with_a_key_switches_to_phishing_resistant(orgs: Orgs) -> None:
    version = await orgs.site.store.policy_version()
    answer = await switch(orgs, await key_login(orgs, "olga"), PR)
    assert answer == {
        "status": 200,
        "org": "acme",
        "mfa_required": True,
        "mfa_level": PR,
        "sessions_to_close": 0,
    }
    found = await orgs.site.store.get_org("acme")
    assert found is not None and found.mfa_level is MFALevel.PHISHING_RESISTANT
    assert await orgs.site.store.policy_version() > version
    [record] = await orgs.audit()
    assert record.event.detail == "off->on:phishing-resistant"


async def test_switching_to_phishing_resistant_counts_sessions_without_a_key(orgs: Orgs) -> None:
    store, now = orgs.site.store, orgs.site.clock()
    await store.gateway_heartbeat("gw", now)
    for sid, who, mfa, key in (
        ("s1", "bob", False, False),
        ("s2", "dave", True, False),  # authenticator code: closes at this level
        ("s3", "dave", True, True),  # key: stays
    ):
        session = LiveSession(sid, "gw", orgs.ids[who], 7, "acme", mfa, now - 5, "p", key)
        await store.open_live_session(session)
    answer = await switch(orgs, await key_login(orgs, "olga"), PR)
    assert answer["sessions_to_close"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/orgs/acme/security", None),
        ("PUT", "/api/orgs/acme/mfa-required", {"required": False}),
    ],
    ids=["security", "switch"],
)
async def test_a_login_with_an_authenticator_code_gets_401_with_amr_hwk(
    orgs: Orgs, method: str, path: str, body: dict[str, object] | None
) -> None:
    await orgs.site.store.set_mfa_required("acme", True, MFALevel.PHISHING_RESISTANT)
    refused = await orgs.site.client.request(method, path, json=body, headers=auth(orgs.olga_mfa))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == STEP_UP_HEADER
    assert refused.json() == {
        "error": "insufficient_user_authentication",
        "amr": ["hwk"],
        "message": MFA_REQUIRED_MESSAGE,
    }
    password_only = await orgs.site.client.request(
        method, path, json=body, headers=auth(orgs.olga_token)
    )
    assert password_only.status_code == 401 and password_only.json()["amr"] == ["mfa"]
    allowed = await orgs.site.client.request(
        method, path, json=body, headers=auth(await key_login(orgs, "olga"))
    )
    assert allowed.status_code == 200, allowed.text


async def test_access_lists_the_level_and_hides_projects_from_a_code_login(orgs: Orgs) -> None:
    await orgs.site.store.set_mfa_required("acme", True, MFALevel.PHISHING_RESISTANT)
    code = await orgs.site.client.get("/api/me/access", headers=auth(orgs.olga_mfa))
    [acme] = [o for o in code.json()["orgs"] if o["name"] == "acme"]
    assert acme == {
        "name": "acme",
        "role": "owner",
        "mfa_required": True,
        "mfa_level": PR,
        "mfa_missing": True,
    }
    key = await orgs.site.client.get("/api/me/access", headers=auth(await key_login(orgs, "olga")))
    [acme] = [o for o in key.json()["orgs"] if o["name"] == "acme"]
    assert acme["mfa_missing"] is False


async def test_a_level_that_does_not_exist_is_refused(orgs: Orgs) -> None:
    answer = await switch(orgs, orgs.olga_mfa, "strong")
    assert answer["status"] == 422 and answer["error"] == "invalid_request"
