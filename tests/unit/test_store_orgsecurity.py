"""The organization-security part of the SQLite store: reminders (claimed, then sent or
released), the members' security listing, and live sessions across gateways."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sshgate.policy.model import MFALevel, OrgRole
from sshgate.policy.reminders import CLAIM_TTL, REMIND_INTERVAL
from sshgate.store import ConflictError, NotFoundError, SQLiteStore
from sshgate.store._orgsecurity import FORGET_GATEWAY_AFTER
from sshgate.store.base import LiveSession, MemberSecurity

NOW = 1_800_000_000.0


@pytest.fixture
async def ids(store: SQLiteStore) -> dict[str, str]:
    """acme: alice (owner, MFA since NOW - 100), bob and carol (members, no MFA)."""
    users = {}
    for name in ("alice", "bob", "carol", "dave"):
        users[name] = (await store.create_user(name, f"{name}@example.com", "hash")).id
    await store.create_org("acme")
    await store.create_org("other")
    await store.set_member("acme", users["alice"], OrgRole.OWNER)
    await store.set_member("acme", users["bob"], OrgRole.MEMBER)
    await store.set_member("acme", users["carol"], OrgRole.ADMIN)
    await store.set_member("other", users["dave"], OrgRole.MEMBER)
    await store.set_mfa_secret(users["alice"], b"secret")
    await store.enable_mfa(users["alice"], NOW - 100)
    return users


async def claim(
    store: SQLiteStore, user_id: str, now: float = NOW, force: bool = False, org: str = "acme"
) -> str | None:
    return await store.claim_reminder(org, user_id, None, now, REMIND_INTERVAL, force, CLAIM_TTL)


# the security listing


async def test_security_listing_has_every_member_with_mfa_and_last_reminder(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.record_reminder("acme", ids["bob"], ids["alice"], NOW - 7200)
    await store.record_reminder("acme", ids["bob"], ids["alice"], NOW - 60)
    await store.record_reminder("other", ids["carol"], None, NOW)  # another org's reminder
    listing = await store.list_member_security("acme")
    assert listing == [
        MemberSecurity(
            ids["alice"],
            "alice",
            "alice@example.com",
            OrgRole.OWNER,
            True,
            NOW - 100,
            None,
            ("totp",),
        ),
        MemberSecurity(ids["bob"], "bob", "bob@example.com", OrgRole.MEMBER, False, None, NOW - 60),
        MemberSecurity(
            ids["carol"], "carol", "carol@example.com", OrgRole.ADMIN, False, None, None
        ),
    ]
    assert await store.list_member_security("nope") == []


# reminders


async def test_last_reminders_counts_only_sent_reminders(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.record_reminder("acme", ids["bob"], ids["alice"], NOW - 10)
    pending = await claim(store, ids["carol"])
    assert pending is not None
    assert await store.last_reminders("acme") == {ids["bob"]: NOW - 10}
    await store.mark_reminder_sent(pending, NOW + 1)
    assert await store.last_reminders("acme") == {ids["bob"]: NOW - 10, ids["carol"]: NOW + 1}


async def test_a_released_claim_leaves_no_reminder_and_frees_the_slot(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    first = await claim(store, ids["bob"])
    assert first is not None
    assert await claim(store, ids["bob"], force=True) is None  # one in flight: not even forced
    await store.release_reminder(first)
    assert await store.last_reminders("acme") == {}
    assert await claim(store, ids["bob"]) is not None
    with pytest.raises(NotFoundError):
        await store.mark_reminder_sent(first, NOW)  # released: it cannot become a reminder


@pytest.mark.parametrize(
    ("sent_ago", "force", "claimed"),
    [
        (60, False, False),
        (REMIND_INTERVAL - 1, False, False),
        (REMIND_INTERVAL, True, True),
        (60, True, True),
        (REMIND_INTERVAL + 1, False, True),
    ],
    ids=["a-minute-ago", "just-under-an-hour", "an-hour", "forced", "over-an-hour"],
)
async def test_one_reminder_per_hour_unless_forced(
    store: SQLiteStore, ids: dict[str, str], sent_ago: float, force: bool, claimed: bool
) -> None:
    await store.record_reminder("acme", ids["bob"], ids["alice"], NOW - sent_ago)
    assert (await claim(store, ids["bob"], force=force) is not None) is claimed


async def test_the_hour_is_per_organization(store: SQLiteStore, ids: dict[str, str]) -> None:
    await store.set_member("other", ids["bob"], OrgRole.MEMBER)
    await store.record_reminder("other", ids["bob"], None, NOW - 60)
    assert await claim(store, ids["bob"]) is not None


async def test_a_claim_abandoned_by_a_dead_sender_lapses(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    assert await claim(store, ids["bob"], now=NOW - CLAIM_TTL - 1) is not None
    assert await store.last_reminders("acme") == {}
    assert await claim(store, ids["bob"]) is not None


async def test_concurrent_claims_from_separate_connections_have_one_winner(
    db_path: Path, ids: dict[str, str]
) -> None:
    """Each SQLiteStore is its own connection, as separate API processes would be."""
    stores = [await SQLiteStore.open(str(db_path)) for _ in range(6)]
    try:
        won = await asyncio.gather(*(claim(s, ids["bob"]) for s in stores))
    finally:
        for s in stores:
            await s.close()
    assert sum(1 for w in won if w is not None) == 1


async def test_a_reminder_names_an_existing_org_and_user(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    with pytest.raises(NotFoundError):
        await claim(store, "no-such-user")
    with pytest.raises(NotFoundError):
        await claim(store, ids["bob"], org="no-such-org")


# live sessions


def session(
    sid: str,
    user_id: str,
    has_mfa: bool,
    gateway: str = "gw-1",
    org: str = "acme",
    has_key: bool = False,
) -> LiveSession:
    return LiveSession(
        id=sid,
        gateway_id=gateway,
        user_id=user_id,
        serial=2**64 - 1,  # the largest serial survives the signed column
        org=org,
        has_mfa=has_mfa,
        opened_at=NOW - 50,
        project_id="abcdefg123456",
        has_key=has_key,
    )


async def test_sessions_without_mfa_are_counted_per_org(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.gateway_heartbeat("gw-1", NOW)
    await store.open_live_session(session("s1", ids["bob"], False))
    await store.open_live_session(session("s2", ids["carol"], False))
    await store.open_live_session(session("s3", ids["alice"], True))
    await store.open_live_session(session("s4", ids["dave"], False, org="other"))
    assert await store.count_sessions_without_mfa("acme", NOW) == 2
    assert await store.count_sessions_without_mfa("other", NOW) == 1
    await store.close_live_session("s1")
    await store.close_live_session("s1")  # closing twice is harmless
    assert await store.count_sessions_without_mfa("acme", NOW) == 1


async def test_at_phishing_resistant_sessions_without_a_key_are_counted_too(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.gateway_heartbeat("gw-1", NOW)
    await store.open_live_session(session("s1", ids["bob"], False))
    await store.open_live_session(session("s2", ids["alice"], True))  # authenticator code
    await store.open_live_session(session("s3", ids["alice"], True, has_key=True))
    assert await store.count_sessions_without_mfa("acme", NOW) == 1
    level = MFALevel.PHISHING_RESISTANT
    assert await store.count_sessions_without_mfa("acme", NOW, level=level) == 2


async def test_the_org_level_is_stored_and_goes_back_to_any_when_switched_off(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    version = await store.policy_version()
    await store.set_mfa_required("acme", True, MFALevel.PHISHING_RESISTANT)
    assert await store.policy_version() > version  # the gateways re-check open sessions
    found = await store.get_org("acme")
    assert found is not None and found.mfa_level is MFALevel.PHISHING_RESISTANT
    [(mine, _)] = await store.orgs_of(ids["bob"])
    assert mine.mfa_level is MFALevel.PHISHING_RESISTANT
    await store.set_mfa_required("acme", False, MFALevel.PHISHING_RESISTANT)
    found = await store.get_org("acme")
    assert found is not None and not found.mfa_required and found.mfa_level is MFALevel.ANY


async def test_a_session_opened_with_mfa_counts_without_it_after_an_mfa_reset(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.gateway_heartbeat("gw-1", NOW)
    await store.open_live_session(session("s1", ids["alice"], True))
    assert await store.count_sessions_without_mfa("acme", NOW) == 0
    await store.reset_mfa(ids["alice"], NOW - 10)
    assert await store.count_sessions_without_mfa("acme", NOW) == 1


async def test_sessions_of_a_silent_gateway_are_not_counted(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.gateway_heartbeat("gw-1", NOW - 31)
    await store.gateway_heartbeat("gw-2", NOW - 1)
    await store.open_live_session(session("s1", ids["bob"], False, gateway="gw-1"))
    await store.open_live_session(session("s2", ids["carol"], False, gateway="gw-2"))
    await store.open_live_session(session("s3", ids["carol"], False, gateway="never-seen"))
    assert await store.count_sessions_without_mfa("acme", NOW) == 1
    assert await store.count_sessions_without_mfa("acme", NOW, stale_after=60) == 2
    await store.gateway_heartbeat("gw-1", NOW)
    assert await store.count_sessions_without_mfa("acme", NOW) == 2


async def test_a_stopping_gateway_forgets_its_sessions(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.gateway_heartbeat("gw-1", NOW)
    await store.open_live_session(session("s1", ids["bob"], False))
    await store.open_live_session(session("s2", ids["carol"], False))
    with pytest.raises(ConflictError):
        await store.open_live_session(session("s2", ids["carol"], False))
    assert await store.forget_gateway("gw-1") == 2
    await store.gateway_heartbeat("gw-1", NOW)
    assert await store.count_sessions_without_mfa("acme", NOW) == 0


async def test_a_long_silent_gateway_is_forgotten_by_another_ones_heartbeat(
    store: SQLiteStore, ids: dict[str, str]
) -> None:
    await store.gateway_heartbeat("crashed", NOW - FORGET_GATEWAY_AFTER - 1)
    await store.open_live_session(session("s1", ids["bob"], False, gateway="crashed"))
    await store.gateway_heartbeat("gw-2", NOW)
    # Back from the dead, it must register again: its old sessions are gone.
    await store.gateway_heartbeat("crashed", NOW)
    assert await store.count_sessions_without_mfa("acme", NOW) == 0
