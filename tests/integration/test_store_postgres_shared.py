"""The PostgreSQL store shared by several sshgate processes: two `PostgresStore`s, each with
its own pool, stand for two processes (API replicas, CAs, gateways) on one database."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from sshgate.accounts.throttle import RULE
from sshgate.policy.model import OrgRole
from sshgate.store import (
    AuditEvent,
    ConflictError,
    PostgresStore,
    StoreError,
)
from tests.support.postgres import PostgresCluster
from tests.unit.test_store_sqlite import PID, certificate, environment, project

T0 = 1_800_000_000.0
Stores = tuple[PostgresStore, PostgresStore]


async def new_user(store: PostgresStore, name: str = "alice") -> str:
    return (await store.create_user(name, f"{name}@example.com", "x")).id


# at most once, across processes


async def test_a_totp_step_sent_to_two_processes_at_once_is_accepted_once(
    postgres_stores: Stores,
) -> None:
    a, b = postgres_stores
    uid = await new_user(a)
    for step in range(100, 105):
        results = await asyncio.gather(*(s.accept_totp_step(uid, step, T0) for s in (a, b) * 10))
        assert sorted(results) == [False] * 19 + [True]
    state = await b.get_mfa_state(uid)
    assert state is not None and state.last_step == 104


async def test_a_thousand_serials_recorded_through_two_processes_are_kept_once_each(
    postgres_stores: Stores,
) -> None:
    a, b = postgres_stores
    uid = await new_user(a)
    serials: set[int] = set()
    while len(serials) < 1000:
        serials.add(secrets.randbits(64))  # high serials too: two's complement in BIGINT
    await asyncio.gather(
        *(
            s.record_certificate(certificate(n, uid))
            for s, n in zip(itertools.cycle(postgres_stores), serials)
        )
    )
    counted = await a._db.one("SELECT COUNT(*) AS n, COUNT(DISTINCT serial) AS d FROM certificates")
    assert counted is not None and (counted["n"], counted["d"]) == (1000, 1000)
    for serial in list(serials)[:20]:
        assert await b.get_certificate(serial) == certificate(serial, uid)

    again = certificate(next(iter(serials)), uid)
    with pytest.raises(ConflictError):
        await b.record_certificate(again)
    fresh = certificate(2**64 - 1 if 2**64 - 1 not in serials else 0, uid)
    outcomes = await asyncio.gather(
        a.record_certificate(fresh), b.record_certificate(fresh), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConflictError", "NoneType"]


async def test_wrong_codes_sent_to_two_processes_are_counted_together(
    postgres_stores: Stores,
) -> None:
    a, b = postgres_stores
    uid = await new_user(a)
    await a.set_mfa_secret(uid, b"secret")
    await a.enable_mfa(uid, T0)
    slots = await asyncio.gather(*(s.take_mfa_attempt(uid, T0, 5, 900) for s in (a, b) * 5))
    # five slots, the 5th of which locks; the other five codes are never checked
    assert sorted(s.taken for s in slots) == [False] * 5 + [True] * 5
    assert [s.locked_until for s in slots if s.taken].count(T0 + 900) == 1
    assert not (await b.take_mfa_attempt(uid, T0 + 1, 5, 900)).taken


async def test_failed_passwords_at_two_processes_are_counted_together(
    postgres_stores: Stores,
) -> None:
    a, b = postgres_stores
    keys = [("user", "alice"), ("addr", "192.0.2.7")]
    slots = await asyncio.gather(*(s.take_login_attempt(keys, T0, RULE) for s in (a, b) * 15))  # type: ignore[arg-type]
    # ten slots in all, whichever process asked: the other twenty attempts check nothing
    assert slots.count(True) == 10
    found = await b.read_login_throttle(keys)  # type: ignore[arg-type]
    assert sorted((r.scope, r.failures) for r in found) == [("addr", 10), ("user", 10)]


async def test_one_reminder_is_claimed_when_two_processes_remind_at_once(
    postgres_stores: Stores,
) -> None:
    a, b = postgres_stores
    uid = await new_user(a)
    await a.create_org("acme")
    await a.set_member("acme", uid, OrgRole.MEMBER)
    claims = await asyncio.gather(
        *(s.claim_reminder("acme", uid, None, T0, 3600, False, 300) for s in (a, b) * 4)
    )
    assert len([c for c in claims if c is not None]) == 1


async def test_environments_added_at_once_share_one_machine_name(postgres_stores: Stores) -> None:
    a, _ = postgres_stores
    await a.create_org("acme")
    await a.create_project(project())
    apps = ("app", "web", "worker", "cron")
    envs = [environment(app=app, machine=f"main-{i:07d}") for i, app in enumerate(apps)]
    added = await asyncio.gather(
        *(s.add_environment(e) for s, e in zip(itertools.cycle(postgres_stores), envs))
    )
    assert len({e.machine_name for e in added}) == 1


# live policy: LISTEN/NOTIFY


async def next_version(seen: asyncio.Queue[int], within: float = 1.0) -> int:
    return await asyncio.wait_for(seen.get(), within)


async def test_a_policy_change_in_one_process_reaches_a_listener_of_another_within_a_second(
    postgres_stores: Stores,
) -> None:
    a, b = postgres_stores
    await a.create_org("acme")
    seen: asyncio.Queue[int] = asyncio.Queue()
    listener = await a.listen_policy_changes(seen.put_nowait)
    assert listener.connected
    assert await next_version(seen) == await a.policy_version()  # where listening started

    started = time.monotonic()
    await b.set_mfa_required("acme", True)
    assert await next_version(seen) == await b.policy_version()
    assert time.monotonic() - started < 1.0
    assert (await a.get_org("acme")).mfa_required  # type: ignore[union-attr]

    await a.audit(AuditEvent(time=T0, kind="shell", decision="allow", reason="r"))  # no change
    with pytest.raises(TimeoutError):
        await next_version(seen, within=0.3)
    await listener.stop()
    assert not listener.connected


async def test_a_rolled_back_change_notifies_nobody(
    postgres_stores: Stores, postgres_url: str
) -> None:
    a, _ = postgres_stores
    seen: asyncio.Queue[int] = asyncio.Queue()
    await a.listen_policy_changes(seen.put_nowait)
    await next_version(seen)
    conn = await asyncpg.connect(postgres_url)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("UPDATE policy_version SET version = version + 1")
        await tx.rollback()
    finally:
        await conn.close()
    with pytest.raises(TimeoutError):
        await next_version(seen, within=0.3)


async def test_a_listener_that_lost_its_connection_listens_again_and_catches_up(
    postgres_stores: Stores, postgres_url: str
) -> None:
    a, b = postgres_stores
    await a.create_org("acme")
    seen: asyncio.Queue[int] = asyncio.Queue()
    listener = await a.listen_policy_changes(seen.put_nowait)
    await next_version(seen)
    await terminate(postgres_url, "sshgate-policy-listener")
    await b.set_mfa_required("acme", True)  # while nobody listens: never notified
    assert await next_version(seen, within=3.0) == await b.policy_version()
    assert listener.connected
    await b.set_mfa_required("acme", False)
    assert await next_version(seen) == await b.policy_version()


async def terminate(url: str, application_name: str) -> int:
    """End the server side of sshgate's connections, as a restart or failover does."""
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                application_name,
            )
        )
    finally:
        await conn.close()


async def test_pooled_connections_ended_by_the_server_fail_closed_then_recover(
    postgres_store: PostgresStore, postgres_url: str
) -> None:
    await asyncio.gather(*(postgres_store.ping() for _ in range(5)))  # a few pooled
    assert await terminate(postgres_url, "sshgate") >= 1
    failures = 0
    for _ in range(12):
        try:
            await postgres_store.policy_version()
            break
        except StoreError:  # a dead pooled connection: this call is refused, not guessed
            failures += 1
    else:
        pytest.fail("the pool did not reconnect")
    assert failures <= 10
    assert await postgres_store.policy_version() == 0


# the database goes away: fail closed, then recover


Call = Callable[[PostgresStore, str], Awaitable[object]]
CALLS: list[tuple[str, Call]] = [
    ("ping", lambda s, u: s.ping()),
    ("policy-version", lambda s, u: s.policy_version()),
    ("get-user", lambda s, u: s.get_user(u)),
    ("access-facts", lambda s, u: s.access_facts(PID, u)),
    ("accept-totp", lambda s, u: s.accept_totp_step(u, 1, T0)),
    ("mfa-attempt", lambda s, u: s.take_mfa_attempt(u, T0, 5, 900)),
    ("disable-user", lambda s, u: s.set_user_disabled(u, True)),
    ("record-certificate", lambda s, u: s.record_certificate(certificate(7, u))),
    ("audit", lambda s, u: s.audit(AuditEvent(time=T0, kind="shell", decision="deny", reason="r"))),
    ("member-security", lambda s, u: s.list_member_security("acme")),
]


async def test_a_stopped_database_makes_every_call_a_store_error_until_it_is_back(
    postgres_store: PostgresStore, postgres_cluster: PostgresCluster
) -> None:
    uid = await new_user(postgres_store)
    listener = await postgres_store.listen_policy_changes(lambda _version: None)
    postgres_cluster.stop()
    try:
        for name, call in CALLS:
            started = time.monotonic()
            with pytest.raises(StoreError):
                await call(postgres_store, uid)
            assert time.monotonic() - started < 2.0, name  # refused at once, not after timeouts
        await wait_for(lambda: not listener.connected)
    finally:
        postgres_cluster.start()
    await postgres_store.ping()  # the pool reconnects by itself
    assert await postgres_store.get_user(uid) is not None
    await wait_for(lambda: listener.connected, within=10.0)


async def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
