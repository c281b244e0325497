"""The one-time grants of the CLI's browser sign-in in the store: `sshgate login --web`
authorization codes, `sshgate login --device` requests, and the login sessions opened under
another (a grant's session). What the store promises whichever database it is; the same
tests run on PostgreSQL, `stores` there being two pools
(tests/integration/test_store_postgres.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sshgate.store import AuthorizationCode, ConflictError, DeviceCode, LoginSession, Store

T0 = 1_800_000_000.0
AMR = ("pwd", "hwk", "mfa")
Stores = tuple[Store, Store]


async def new_user(store: Store, name: str = "alice") -> str:
    return (await store.create_user(name, f"{name}@example.com", "x")).id


def code(uid: str, n: int = 1, expires_at: float = T0 + 60) -> AuthorizationCode:
    return AuthorizationCode(
        f"code-{n}", "sshgate-cli", uid, "http://127.0.0.1:41234/callback", f"pkce-{n}",
        AMR, T0 - 5, expires_at, "approving",
    )  # fmt: skip


def device(n: int = 1, expires_at: float = T0 + 600) -> DeviceCode:
    return DeviceCode(
        f"device-{n}", f"BCDF-GHJ{n}", "sshgate-cli", expires_at,
        requested_at=T0, requested_from="198.51.100.7",
    )  # fmt: skip


# authorization codes of `sshgate login --web`


async def test_an_authorization_code_is_taken_once_with_all_it_was_bound_to(store: Store) -> None:
    uid = await new_user(store)
    await store.save_authorization_code(code(uid))
    assert await store.take_authorization_code("code-1", T0) == code(uid)
    assert await store.take_authorization_code("code-1", T0) is None


async def test_an_expired_authorization_code_is_refused_and_gone(store: Store) -> None:
    uid = await new_user(store)
    await store.save_authorization_code(code(uid))
    assert await store.take_authorization_code("code-1", T0 + 60) is None
    assert await store.take_authorization_code("code-1", T0) is None


async def test_saving_a_code_forgets_those_expired_ten_minutes_before(store: Store) -> None:
    uid = await new_user(store)
    await store.save_authorization_code(code(uid, 1, expires_at=T0))
    await store.save_authorization_code(code(uid, 2, expires_at=T0 + 599))
    await store.save_authorization_code(code(uid, 3, expires_at=T0 + 600))
    assert await store.take_authorization_code("code-1", T0 - 1) is None
    assert await store.take_authorization_code("code-2", T0 - 1) == code(uid, 2, T0 + 599)


async def test_an_authorization_code_sent_to_two_processes_at_once_is_exchanged_once(
    stores: Stores,
) -> None:
    a, b = stores
    uid = await new_user(a)
    for n in range(10):
        await a.save_authorization_code(code(uid, n))
    taken = await asyncio.gather(
        *(s.take_authorization_code(f"code-{n}", T0) for n in range(10) for s in (a, b, a, b))
    )
    assert sorted(t.code_hash for t in taken if t is not None) == [f"code-{n}" for n in range(10)]


# device requests of `sshgate login --device`


async def test_a_device_request_is_pending_until_decided_and_its_user_code_is_unique(
    store: Store,
) -> None:
    await store.save_device_code(device())
    assert await store.pending_device_code("BCDF-GHJ1", T0) == device()
    assert await store.pending_device_code("BCDF-GHJ1", T0 + 600) is None  # expired
    assert await store.pending_device_code("BCDF-GHJ2", T0) is None
    with pytest.raises(ConflictError, match="this user code is in use"):
        await store.save_device_code(replace(device(), device_code_hash="device-2"))


async def test_an_approved_device_request_is_decided_once_and_taken_once_by_the_poll(
    store: Store,
) -> None:
    uid = await new_user(store)
    await store.save_device_code(device())
    assert await store.decide_device_code("BCDF-GHJ1", True, uid, AMR, T0 - 5, "s1", T0 + 1)
    assert not await store.decide_device_code("BCDF-GHJ1", False, uid, AMR, T0, "s2", T0 + 2)
    assert await store.pending_device_code("BCDF-GHJ1", T0 + 2) is None
    polled = await store.poll_device_code("device-1", T0 + 3)
    assert polled == replace(
        device(), state="approved", user_id=uid, amr=AMR, auth_time=T0 - 5, session_id="s1"
    )
    assert await store.poll_device_code("device-1", T0 + 4) is None


async def test_a_denied_device_request_stays_denied_and_each_poll_sees_the_previous_one(
    store: Store,
) -> None:
    uid = await new_user(store)
    await store.save_device_code(device())
    first = await store.poll_device_code("device-1", T0 + 5)
    assert first is not None and first.state == "pending" and first.last_poll_at is None
    second = await store.poll_device_code("device-1", T0 + 7)  # too soon: slow_down's basis
    assert second is not None and second.last_poll_at == T0 + 5
    assert await store.decide_device_code("BCDF-GHJ1", False, uid, AMR, T0, "s1", T0 + 8)
    assert not await store.decide_device_code("BCDF-GHJ1", True, uid, AMR, T0, "s1", T0 + 9)
    for at in (T0 + 10, T0 + 20):
        polled = await store.poll_device_code("device-1", at)
        assert polled is not None and polled.state == "denied" and polled.user_id == uid
    assert polled.last_poll_at == T0 + 10
    assert await store.poll_device_code("unknown", T0) is None


async def test_an_expired_device_request_cannot_be_approved(store: Store) -> None:
    uid = await new_user(store)
    await store.save_device_code(device(expires_at=T0 + 10))
    assert not await store.decide_device_code("BCDF-GHJ1", True, uid, AMR, T0, "s1", T0 + 10)
    polled = await store.poll_device_code("device-1", T0 + 11)
    assert polled is not None and polled.state == "pending" and polled.expires_at == T0 + 10


async def test_saving_a_device_request_forgets_those_expired_an_hour_before(store: Store) -> None:
    await store.save_device_code(device(1, expires_at=T0))
    await store.save_device_code(device(2, expires_at=T0 + 3599))
    await store.save_device_code(device(3, expires_at=T0 + 3600))
    assert await store.poll_device_code("device-1", T0) is None
    assert await store.poll_device_code("device-2", T0) is not None


async def test_a_device_request_decided_and_polled_at_once_by_two_processes_goes_one_way(
    stores: Stores,
) -> None:
    a, b = stores
    uid = await new_user(a)
    for n in range(10):
        await a.save_device_code(device(n))
    decided = await asyncio.gather(
        *(
            s.decide_device_code(f"BCDF-GHJ{n}", approve, uid, AMR, T0, "s1", T0)
            for n in range(10)
            for s, approve in ((a, True), (b, False), (b, True), (a, False))
        )
    )
    assert [decided[4 * n : 4 * n + 4].count(True) for n in range(10)] == [1] * 10
    polls = await asyncio.gather(
        *(s.poll_device_code(f"device-{n}", T0 + 1) for n in range(10) for s in (a, b, a, b))
    )
    for n in range(10):
        mine = [p for p in polls[4 * n : 4 * n + 4] if p is not None]
        if mine[0].state == "approved":  # taken by exactly one poll
            assert len(mine) == 1
        else:
            assert [p.state for p in mine] == ["denied"] * 4


async def test_forgetting_grants_deletes_a_users_codes_and_decided_requests_by_session(
    store: Store,
) -> None:
    alice, bob = await new_user(store), await new_user(store, "bob")
    await store.save_authorization_code(code(alice, 1))
    await store.save_authorization_code(replace(code(alice, 2), session_id="other"))
    await store.save_authorization_code(code(bob, 3))
    for n, (uid, session) in enumerate([(alice, "approving"), (alice, "other"), (bob, "x")]):
        await store.save_device_code(device(n))
        await store.decide_device_code(f"BCDF-GHJ{n}", True, uid, AMR, T0, session, T0)
    await store.save_device_code(device(9))  # pending: nobody's yet

    assert await store.forget_cli_grants(alice, "approving") == 2
    assert await store.take_authorization_code("code-1", T0) is None
    assert await store.poll_device_code("device-0", T0) is None
    assert await store.forget_cli_grants(alice) == 2
    assert await store.take_authorization_code("code-2", T0) is None
    assert await store.poll_device_code("device-1", T0) is None
    assert await store.take_authorization_code("code-3", T0) is not None
    assert await store.poll_device_code("device-2", T0) is not None
    assert await store.poll_device_code("device-9", T0) is not None


# a grant's login session: opened under the session that allowed it


def session(uid: str, sid: str, expires_at: float) -> LoginSession:
    return LoginSession(sid, uid, f"hash-{sid}", AMR, T0, T0, expires_at)


async def test_a_grants_session_opens_only_under_a_live_session_of_its_user_and_ends_with_it(
    store: Store,
) -> None:
    alice, bob = await new_user(store), await new_user(store, "bob")
    await store.create_login_session(session(alice, "approving", T0 + 3600))
    await store.create_login_session(session(alice, "ended", T0 + 3600))
    await store.revoke_login_session("ended", T0)
    new = session(alice, "new", T0 + 7200)
    assert await store.create_login_session_within(new, "ended", T0 + 1) is None
    assert await store.create_login_session_within(new, "approving", T0 + 3600) is None  # expired
    assert (
        await store.create_login_session_within(session(bob, "new", T0 + 60), "approving", T0)
        is None
    )
    assert await store.get_login_session("hash-new") is None

    opened = await store.create_login_session_within(new, "approving", T0 + 1)
    assert opened == replace(new, expires_at=T0 + 3600)  # no later than the approving one
    assert await store.get_login_session("hash-new") == opened
    shorter = session(alice, "short", T0 + 60)
    assert await store.create_login_session_within(shorter, "approving", T0 + 1) == shorter
    with pytest.raises(ConflictError):
        await store.create_login_session_within(new, "approving", T0 + 1)


async def test_a_grants_session_opened_while_the_users_sessions_end_does_not_survive(
    stores: Stores,
) -> None:
    a, b = stores
    users = [await new_user(a, f"grants{n}") for n in range(10)]
    news = []
    for n, uid in enumerate(users):
        await a.create_login_session(session(uid, f"s{n}", T0 + 3600))
        news.append(session(uid, f"n{n}", T0 + 7200))
    await asyncio.gather(
        *(a.create_login_session_within(new, f"s{n}", T0 + 1) for n, new in enumerate(news)),
        *(b.revoke_user_sessions(uid, T0 + 1) for uid in users),
    )
    for new in news:
        opened = await a.get_login_session(new.token_hash)
        assert opened is None or opened.revoked_at is not None
