"""The one service layer's org-security rules over a real SQLite store: the count of the
sessions that switching "MFA required" on will close is taken before the switch is stored,
for the org owner's switch and the operator's alike (the gateways start closing those
sessions the moment the switch is stored, so a count taken after it races them: the cause
of test_workers' flaky sessions_to_close)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sshgate.accounts.principal import Principal
from sshgate.policy.model import ADVANCED_USER_MANAGEMENT, MFALevel, OrgRole, User
from sshgate.services import Forbidden, NotFound, OrgNotFound, OrgRequiresMFA, OrgSecurity
from sshgate.store.base import LiveSession
from sshgate.store.sqlite import SQLiteStore


class GatewayThatClosesAtOnce(SQLiteStore):
    """A store under a gateway that closes non-compliant sessions as soon as the switch is
    stored: the fastest the gateways may ever be."""

    async def set_mfa_required(
        self, org: str, required: bool, level: MFALevel = MFALevel.ANY
    ) -> None:
        await super().set_mfa_required(org, required, level)
        if required:
            for session_id in ("s1", "s2"):
                await self.close_live_session(session_id)


@pytest.fixture
async def racing_store(tmp_path: Path) -> AsyncIterator[GatewayThatClosesAtOnce]:
    store = await GatewayThatClosesAtOnce.open(str(tmp_path / "sshgate.db"))
    try:
        yield store
    finally:
        await store.close()


async def _org_with_sessions(store: SQLiteStore) -> dict[str, User]:
    await store.create_org("acme", frozenset({ADVANCED_USER_MANAGEMENT}))
    users = {}
    for name, role in (("olga", OrgRole.OWNER), ("bob", OrgRole.MEMBER), ("carl", OrgRole.MEMBER)):
        users[name] = await store.create_user(name, f"{name}@example.com", "x")
        await store.set_member("acme", users[name].id, role)
    now = time.time()
    await store.gateway_heartbeat("gw", now)
    for sid, who in (("s1", "bob"), ("s2", "carl")):
        await store.open_live_session(
            LiveSession(sid, "gw", users[who].id, 7, "acme", False, now - 10, "abcdefg123456")
        )
    return users


def _login(user: User, mfa: bool) -> Principal:
    amr = ("pwd", "mfa") if mfa else ("pwd",)
    return Principal(user, amr, int(time.time()), "jti", "session")


async def test_operator_switch_counts_the_sessions_before_the_gateways_close_them(
    racing_store: GatewayThatClosesAtOnce,
) -> None:
    await _org_with_sessions(racing_store)
    switched = await OrgSecurity(racing_store).operator_switch("acme", True)
    assert switched.sessions_to_close == 2
    org = await racing_store.get_org("acme")
    assert org is not None and org.mfa_required


async def test_owner_switch_counts_the_sessions_before_the_gateways_close_them(
    racing_store: GatewayThatClosesAtOnce,
) -> None:
    users = await _org_with_sessions(racing_store)
    await racing_store.reset_mfa(users["olga"].id, time.time())  # make sure of the state
    olga = await _enable_mfa(racing_store, users["olga"])
    switched = await OrgSecurity(racing_store).switch(_login(olga, True), "acme", True)
    assert (switched.org, switched.mfa_required, switched.sessions_to_close) == ("acme", True, 2)


async def _enable_mfa(store: SQLiteStore, user: User) -> User:
    await store.set_mfa_secret(user.id, b"sealed")
    await store.enable_mfa(user.id, time.time())
    found = await store.get_user(user.id)
    assert found is not None and found.mfa_enabled
    return found


async def test_operator_switch_of_an_unknown_org_is_not_found(store: SQLiteStore) -> None:
    with pytest.raises(NotFound, match="no organization named 'nope'"):
        await OrgSecurity(store).operator_switch("nope", True)


@pytest.mark.parametrize(
    ("role", "addon", "switcher_mfa", "rule"),
    [
        pytest.param(OrgRole.MEMBER, True, True, "role", id="member"),
        pytest.param(OrgRole.ADMIN, False, True, "addon", id="no-addon"),
        pytest.param(OrgRole.OWNER, True, False, "switcher-mfa", id="switcher-without-mfa"),
    ],
)
async def test_each_missing_prerequisite_is_named_and_nothing_switches(
    store: SQLiteStore, role: OrgRole, addon: bool, switcher_mfa: bool, rule: str
) -> None:
    await store.create_org("acme", frozenset({ADVANCED_USER_MANAGEMENT} if addon else ()))
    user = await store.create_user("olga", "olga@example.com", "x")
    await store.set_member("acme", user.id, role)
    if switcher_mfa:
        user = await _enable_mfa(store, user)
    service = OrgSecurity(store)
    with pytest.raises(Forbidden) as refused:
        await service.switch(_login(user, switcher_mfa), "acme", True)
    assert refused.value.rule == rule
    with pytest.raises(Forbidden):
        await service.sessions_to_close(_login(user, switcher_mfa), "acme")
    org = await store.get_org("acme")
    assert org is not None and not org.mfa_required


async def test_an_org_is_reached_only_through_membership_then_its_mfa_requirement(
    store: SQLiteStore,
) -> None:
    await store.create_org("acme", frozenset({ADVANCED_USER_MANAGEMENT}))
    await store.create_org("other", frozenset())
    stranger = await store.create_user("eve", "eve@example.com", "x")
    member = await store.create_user("bob", "bob@example.com", "x")
    await store.set_member("acme", member.id, OrgRole.OWNER)
    await store.set_mfa_required("acme", True)
    service = OrgSecurity(store)
    with pytest.raises(OrgNotFound) as unknown:
        await service.members(_login(stranger, False), "nope")
    with pytest.raises(OrgNotFound) as not_mine:
        await service.members(_login(stranger, False), "acme")
    assert str(unknown.value).replace("nope", "X") == str(not_mine.value).replace("acme", "X")
    with pytest.raises(OrgRequiresMFA) as step_up:
        await service.members(_login(member, False), "acme")
    assert step_up.value.amr == ("mfa",)


async def test_the_operators_org_commands_check_names_and_are_audited(store: SQLiteStore) -> None:
    from sshgate.services import InvalidRequest, Operator

    operator = Operator(store)
    with pytest.raises(InvalidRequest, match="invalid organization name"):
        await operator.add_org("Not Valid", frozenset())
    await operator.add_org("acme", frozenset())
    with pytest.raises(InvalidRequest, match="already exists"):
        await operator.add_org("acme", frozenset())
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        await operator.set_member("acme", "ghost", OrgRole.MEMBER)
    with pytest.raises(NotFound, match="no organization named 'nope'"):
        await operator.set_addon("nope", ADVANCED_USER_MANAGEMENT, True)
    await store.create_user("bob", "bob@example.com", "x")
    await operator.set_member("acme", "bob", OrgRole.ADMIN)
    org = await operator.set_addon("acme", ADVANCED_USER_MANAGEMENT, True)
    assert ADVANCED_USER_MANAGEMENT in org.addons
    await operator.remove_member("acme", "bob")
    assert await store.list_member_security("acme") == []
    records = await store.list_audit(since=0)
    kinds = [(r.event.kind, r.event.service, r.event.detail) for r in records]
    assert kinds == [
        ("admin:org-add", "acme", None),
        ("admin:org-member", "acme", "bob=admin"),
        ("admin:org-addon-add", "acme", ADVANCED_USER_MANAGEMENT),
        ("admin:org-member-remove", "acme", "bob"),
    ]
