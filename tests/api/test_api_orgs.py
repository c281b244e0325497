"""Organization security over the API: who has MFA (GET /api/orgs/{org}/security), the "MFA
required" switch and each of its prerequisites (PUT /api/orgs/{org}/mfa-required), and the
RFC 9470 step-up answer on every org-security route of an org that requires MFA."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pyotp
import pytest

from sshgate.accounts import hash_password
from sshgate.api import MFA_REQUIRED_MESSAGE
from sshgate.api.context import ApiContext
from sshgate.api.schemas import iso
from sshgate.policy.model import ADVANCED_USER_MANAGEMENT, OrgRole
from sshgate.policy.org_security import (
    NO_ADDON,
    NOT_ALLOWED_TO_VIEW,
    NOT_OWNER_OR_ADMIN,
    SWITCHER_WITHOUT_MFA,
)
from sshgate.services.errors import NO_SUCH_ORG
from sshgate.store import AuditRecord
from sshgate.store.base import LiveSession
from tests.api.conftest import PASSWORD, Site, auth

STEP_UP_HEADER = 'Bearer error="insufficient_user_authentication"'


@dataclass
class Orgs:
    """acme (add-on): olga owner with MFA, adam admin without, bob and carol members without,
    dave member with MFA. plain (no add-on) and other: olga owner. eve belongs to none."""

    site: Site
    ids: dict[str, str]
    olga_mfa: str  # a login with MFA
    olga_token: str  # an API token created before olga enabled MFA: amr ["pwd"]

    async def login(self, username: str) -> str:
        """A password-only login of anyone but olga."""
        return await self.site.token(username)

    def context(self) -> ApiContext:
        context = self.site.app.state.sshgate
        assert isinstance(context, ApiContext)
        return context

    async def get(self, path: str, bearer: str) -> httpx.Response:
        return await self.site.client.get(path, headers=auth(bearer))

    async def switch(self, org: str, required: bool, bearer: str) -> httpx.Response:
        return await self.site.client.put(
            f"/api/orgs/{org}/mfa-required", json={"required": required}, headers=auth(bearer)
        )

    async def audit(self) -> list[AuditRecord]:
        return [r for r in await self.site.store.list_audit() if r.event.kind == "org:mfa-required"]


@pytest.fixture
async def orgs(site: Site) -> Orgs:
    return await make_orgs(site)


async def make_orgs(site: Site) -> Orgs:
    store = site.store
    password_hash = hash_password(PASSWORD)  # once: argon2id is slow on purpose
    ids = {
        name: (await store.create_user(name, f"{name}@example.com", password_hash)).id
        for name in ("olga", "adam", "bob", "carol", "dave", "eve")
    }
    await store.create_org("acme", frozenset({ADVANCED_USER_MANAGEMENT}))
    await store.create_org("plain")
    await store.create_org("other", frozenset({ADVANCED_USER_MANAGEMENT}))
    for name, role in (
        ("olga", OrgRole.OWNER),
        ("adam", OrgRole.ADMIN),
        ("bob", OrgRole.MEMBER),
        ("carol", OrgRole.MEMBER),
        ("dave", OrgRole.MEMBER),
    ):
        await store.set_member("acme", ids[name], role)
    await store.set_member("plain", ids["olga"], OrgRole.OWNER)
    await store.set_member("other", ids["olga"], OrgRole.OWNER)
    await store.set_mfa_secret(ids["dave"], b"not-used-here")
    await store.enable_mfa(ids["dave"], site.clock() - 86400)

    olga_pwd = await site.token("olga")
    created = await site.client.post(
        "/api/tokens", json={"name": "ci", "scope": "account"}, headers=auth(olga_pwd)
    )
    assert created.status_code == 201 and created.json()["amr"] == ["pwd"]
    secret, _ = await site.enable_mfa(olga_pwd)
    olga_mfa = await site.token("olga", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    return Orgs(site, ids, olga_mfa, created.json()["token"])


# who has MFA


async def test_owner_sees_every_member_with_mfa_status_and_last_reminder(orgs: Orgs) -> None:
    store, clock = orgs.site.store, orgs.site.clock
    await store.record_reminder("acme", orgs.ids["bob"], orgs.ids["olga"], clock() - 60)
    olga = await store.get_user(orgs.ids["olga"])
    assert olga is not None and olga.mfa_since is not None
    response = await orgs.get("/api/orgs/acme/security", orgs.olga_mfa)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["username"] for i in items] == ["adam", "bob", "carol", "dave", "olga"]
    by_name = {i["username"]: i for i in items}
    assert by_name["olga"] == {
        "username": "olga",
        "email": "olga@example.com",
        "role": "owner",
        "mfa": True,
        "factors": ["totp"],
        "mfa_since": iso(olga.mfa_since),
        "last_reminded": None,
    }
    assert by_name["bob"] == {
        "username": "bob",
        "email": "bob@example.com",
        "role": "member",
        "mfa": False,
        "factors": [],
        "mfa_since": None,
        "last_reminded": iso(clock() - 60),
    }
    assert by_name["adam"]["role"] == "admin" and by_name["dave"]["mfa"] is True
    assert by_name["dave"]["mfa_since"].endswith("Z")


async def test_an_admin_may_see_the_listing_too(orgs: Orgs) -> None:
    response = await orgs.get("/api/orgs/acme/security", await orgs.login("adam"))
    assert response.status_code == 200 and len(response.json()["items"]) == 5


async def test_a_plain_member_may_not_see_the_security_listing(orgs: Orgs) -> None:
    response = await orgs.get("/api/orgs/acme/security", await orgs.login("bob"))
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "rule": "role",
        "message": NOT_ALLOWED_TO_VIEW.format(org="acme"),
    }


async def test_an_org_the_caller_is_not_in_looks_like_no_org(orgs: Orgs) -> None:
    eve = await orgs.login("eve")
    answers = {}
    for org in ("acme", "nope", "Not_An_Org"):
        for response in (
            await orgs.get(f"/api/orgs/{org}/security", eve),
            await orgs.switch(org, True, eve),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == "not_found"
            answers[org] = response.json()["message"].replace(org, "ORG")
    assert answers["acme"] == answers["nope"] == NO_SUCH_ORG.format(org="ORG")
    assert "Not_An_Org" not in answers["Not_An_Org"]  # an invalid name is not echoed


# the switch and its prerequisites


@pytest.mark.parametrize(
    ("org", "who", "rule", "message"),
    [
        ("acme", "bob", "role", NOT_OWNER_OR_ADMIN),
        ("plain", "olga", "addon", NO_ADDON),
        ("acme", "adam", "switcher-mfa", SWITCHER_WITHOUT_MFA),
    ],
    ids=["member-is-not-owner-or-admin", "org-without-addon", "admin-without-mfa"],
)
async def test_each_missing_prerequisite_is_refused_by_name(
    orgs: Orgs, org: str, who: str, rule: str, message: str
) -> None:
    bearer = orgs.olga_mfa if who == "olga" else await orgs.login(who)
    response = await orgs.switch(org, True, bearer)
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "rule": rule,
        "message": message.format(org=org),
    }
    found = await orgs.site.store.get_org(org)
    assert found is not None and found.mfa_required is False
    [record] = await orgs.audit()
    assert (record.event.decision, record.event.reason) == ("deny", rule)
    assert (record.event.user_id, record.event.service) == (orgs.ids[who], org)


async def test_owner_with_mfa_switches_mfa_required_on_and_it_is_audited(orgs: Orgs) -> None:
    version = await orgs.site.store.policy_version()
    response = await orgs.switch("acme", True, orgs.olga_mfa)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "org": "acme",
        "mfa_required": True,
        "mfa_level": "any",
        "sessions_to_close": 0,
    }
    found = await orgs.site.store.get_org("acme")
    assert found is not None and found.mfa_required is True
    assert await orgs.site.store.policy_version() > version  # gateways see the change
    [record] = await orgs.audit()
    event = record.event
    assert (event.decision, event.reason, event.detail) == ("admin", "org-mfa-required", "off->on")
    assert (event.user_id, event.service) == (orgs.ids["olga"], "acme")


async def test_the_switcher_needs_mfa_on_the_account_not_on_this_token(orgs: Orgs) -> None:
    """olga's API token predates her MFA: it may switch (her account has MFA), and is then
    shut out of the org's security settings like any bearer without mfa."""
    response = await orgs.switch("acme", True, orgs.olga_token)
    assert response.status_code == 200, response.text
    after = await orgs.get("/api/orgs/acme/security", orgs.olga_token)
    assert after.status_code == 401


async def test_switching_on_says_how_many_open_sessions_will_close(orgs: Orgs) -> None:
    store, now = orgs.site.store, orgs.site.clock()
    await store.gateway_heartbeat("gw-live", now)
    await store.gateway_heartbeat("gw-dead", now - 3000)
    sessions = [
        ("s1", "gw-live", "bob", False, "acme"),
        ("s2", "gw-live", "carol", False, "acme"),
        ("s3", "gw-live", "dave", True, "acme"),  # compliant: stays
        ("s4", "gw-dead", "bob", False, "acme"),  # its gateway is gone
        ("s5", "gw-live", "olga", False, "other"),  # another org
    ]
    for sid, gateway, who, mfa, org in sessions:
        await store.open_live_session(
            LiveSession(sid, gateway, orgs.ids[who], 7, org, mfa, now - 10, "abcdefg123456")
        )
    response = await orgs.switch("acme", True, orgs.olga_mfa)
    assert response.json()["sessions_to_close"] == 2


async def test_switching_off_needs_only_the_role(orgs: Orgs) -> None:
    await orgs.site.store.set_mfa_required("plain", True)  # the operator's override
    response = await orgs.switch("plain", False, orgs.olga_mfa)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "org": "plain",
        "mfa_required": False,
        "mfa_level": "any",
        "sessions_to_close": 0,
    }
    [record] = await orgs.audit()
    assert record.event.detail == "on->off"
    refused = await orgs.switch("acme", False, await orgs.login("bob"))
    assert refused.status_code == 403 and refused.json()["rule"] == "role"


async def test_switching_off_an_org_that_requires_mfa_needs_an_mfa_login(orgs: Orgs) -> None:
    await orgs.site.store.set_mfa_required("acme", True)
    refused = await orgs.switch("acme", False, orgs.olga_token)
    assert refused.status_code == 401
    found = await orgs.site.store.get_org("acme")
    assert found is not None and found.mfa_required is True
    allowed = await orgs.switch("acme", False, orgs.olga_mfa)
    assert allowed.status_code == 200 and allowed.json()["mfa_required"] is False


async def test_a_malformed_switch_is_refused(orgs: Orgs) -> None:
    response = await orgs.site.client.put(
        "/api/orgs/acme/mfa-required", json={"required": "yes"}, headers=auth(orgs.olga_mfa)
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"


# the step-up answer (RFC 9470)


ROUTES = [
    ("GET", "/api/orgs/{org}/security", None),
    ("PUT", "/api/orgs/{org}/mfa-required", {"required": True}),
    ("POST", "/api/orgs/{org}/reminders", {"all": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=["security", "switch", "remind"])
async def test_a_token_without_mfa_gets_401_on_an_org_requiring_mfa_and_200_elsewhere(
    orgs: Orgs, method: str, path: str, body: dict[str, object] | None
) -> None:
    await orgs.site.store.set_mfa_required("acme", True)
    # Mail goes nowhere: "other" has no member without MFA but olga, who has it.
    headers = auth(orgs.olga_token)
    refused = await orgs.site.client.request(
        method, path.format(org="acme"), json=body, headers=headers
    )
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == STEP_UP_HEADER
    assert refused.json() == {
        "error": "insufficient_user_authentication",
        "amr": ["mfa"],
        "message": MFA_REQUIRED_MESSAGE,
    }
    allowed = await orgs.site.client.request(
        method, path.format(org="other"), json=body, headers=headers
    )
    assert allowed.status_code == 200, allowed.text


async def test_the_mfa_guard_comes_before_the_role_check(orgs: Orgs) -> None:
    """A member without MFA on an org that requires it learns what to do first (MFA), not
    that members may not see the listing."""
    await orgs.site.store.set_mfa_required("acme", True)
    response = await orgs.get("/api/orgs/acme/security", await orgs.login("bob"))
    assert response.status_code == 401
    assert response.json()["message"] == MFA_REQUIRED_MESSAGE
