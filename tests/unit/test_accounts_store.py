"""The accounts half of the SQLite store: the atomic steps that must hold across processes.
Two `SQLiteStore`s on one file (`stores`, tests/unit/conftest.py) stand for two sshgate
processes."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sshgate.accounts import throttle
from sshgate.store import SQLiteStore
from sshgate.store.base import ApiToken, AppConfirmation, LoginSession, MFAAttempt

T0 = 1_800_000_000.0


async def new_user(store: SQLiteStore, name: str = "alice") -> str:
    return (await store.create_user(name, f"{name}@example.com", "x")).id


async def test_a_totp_step_is_accepted_once_across_processes(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, b = stores
    uid = await new_user(a)
    results = await asyncio.gather(*(s.accept_totp_step(uid, 100, T0) for s in (a, b) * 4))
    assert sorted(results) == [False] * 7 + [True]
    assert not await a.accept_totp_step(uid, 99, T0)  # older steps are spent too
    assert await b.accept_totp_step(uid, 101, T0)


async def test_fifth_failure_locks_and_restarts_the_count(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, b = stores
    uid = await new_user(a)
    await a.set_mfa_secret(uid, b"secret")
    await a.enable_mfa(uid, T0)
    for i in range(4):
        assert await (a, b)[i % 2].take_mfa_attempt(uid, T0, 5, 900) == MFAAttempt(True, None)
    assert await a.take_mfa_attempt(uid, T0, 5, 900) == MFAAttempt(True, T0 + 900)
    state = await b.get_mfa_state(uid)
    assert state is not None and state.failures == 0 and state.locked_until == T0 + 900
    # locked: no slot, so no code is checked
    assert await a.take_mfa_attempt(uid, T0 + 899, 5, 900) == MFAAttempt(False, T0 + 900)
    assert await a.take_mfa_attempt(uid, T0 + 900, 5, 900) == MFAAttempt(True, None)
    assert await a.accept_totp_step(uid, 100, T0 + 900)  # a correct code resets the count
    state = await b.get_mfa_state(uid)
    assert state is not None and state.failures == 0 and state.locked_until is None


async def test_disable_mfa_ends_sessions_drops_codes_and_marks_revocation(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, _ = stores
    uid = await new_user(a)
    for i in range(2):
        await a.create_login_session(
            LoginSession(f"s{i}", uid, f"h{i}", ("pwd", "mfa"), T0, T0, T0 + 60)
        )
    no_setup = await a.confirm_totp_setup(uid, b"sealed", [], T0, False)
    assert no_setup is AppConfirmation.NOT_PENDING
    assert await a.save_totp_setup(uid, b"sealed", T0, T0 + 900)
    other = await a.confirm_totp_setup(uid, b"other", ["c1"], T0, False)
    assert other is AppConfirmation.NOT_PENDING
    confirmed = await a.confirm_totp_setup(uid, b"sealed", ["c1", "c2"], T0, False)
    assert confirmed is AppConfirmation.ENABLED
    assert sorted(await a.unused_recovery_codes(uid)) == ["c1", "c2"]
    version = await a.policy_version()
    assert await a.disable_mfa(uid, T0 + 5) == 2
    assert await a.policy_version() > version
    user = await a.get_user(uid)
    assert user is not None and not user.mfa_enabled and user.mfa_revoked_at == T0 + 5
    assert await a.unused_recovery_codes(uid) == []
    session = await a.get_login_session("h0")
    assert session is not None and session.revoked_at == T0 + 5


async def test_a_recovery_code_is_spent_once(stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = stores
    uid = await new_user(a)
    await a.replace_recovery_codes(uid, ["h1", "h2"], T0)
    results = await asyncio.gather(*(s.use_recovery_code(uid, "h1", T0) for s in (a, b) * 3))
    assert sorted(results) == [False] * 5 + [True]
    assert await a.unused_recovery_codes(uid) == ["h2"]


KEYS = [("addr", "10.0.0.1"), ("user", "alice")]


async def attempts(store: SQLiteStore, n: int, now: float) -> list[bool]:
    return [await store.take_login_attempt(KEYS, now, throttle.RULE) for _ in range(n)]  # type: ignore[arg-type]


async def failures(store: SQLiteStore) -> dict[str, int]:
    return {r.scope: r.failures for r in await store.read_login_throttle(KEYS)}  # type: ignore[arg-type]


async def test_ten_attempt_slots_then_one_a_minute(stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = stores
    assert await attempts(a, 10, T0) == [True] * 10
    assert await failures(b) == {"addr": 10, "user": 10}
    assert await attempts(b, 3, T0 + 59) == [False] * 3  # refused attempts are not counted
    assert await failures(a) == {"addr": 10, "user": 10}
    taken = await asyncio.gather(
        *(s.take_login_attempt(KEYS, T0 + 60, throttle.RULE) for s in (a, b) * 3)
    )  # type: ignore[arg-type]
    assert sorted(taken) == [False] * 5 + [True]


async def test_one_throttled_key_refuses_the_attempt_on_every_key(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, _ = stores
    for _ in range(10):
        assert await a.take_login_attempt([("addr", "10.0.0.1")], T0, throttle.RULE)
    assert not await a.take_login_attempt(KEYS, T0 + 1, throttle.RULE)  # type: ignore[arg-type]
    assert await failures(a) == {"addr": 10}  # alice's count was not taken


async def test_a_success_clears_the_counts_and_a_quiet_period_forgets_them(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, b = stores
    await attempts(a, 3, T0)
    await b.clear_login_failures(KEYS)  # type: ignore[arg-type]
    assert await failures(a) == {}
    await attempts(a, 10, T0)
    later = T0 + throttle.FORGET_AFTER + 1
    assert await attempts(a, 1, later) == [True]
    assert await failures(a) == {"addr": 1, "user": 1}


async def test_tokens_are_listed_touched_and_revoked_per_user(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, _ = stores
    alice, bob = await new_user(a, "alice"), await new_user(a, "bob")
    await a.create_api_token(ApiToken("t1", alice, "ci", "hash1", ("pwd",), T0, T0))
    assert not await a.revoke_api_token(bob, "t1", T0)  # not bob's
    await a.touch_api_token("t1", T0 + 1, 60)
    await a.touch_api_token("t1", T0 + 30, 60)  # too soon: not written
    (token,) = await a.list_api_tokens(alice)
    assert token.last_used_at == T0 + 1 and token.amr == ("pwd",)
    assert await a.revoke_api_token(alice, "t1", T0 + 2)
    assert await a.list_api_tokens(alice) == []
    found = await a.get_api_token("hash1")
    assert found is not None and found.revoked_at == T0 + 2 and found.scope == "certificate"


async def test_a_tokens_scope_and_expiry_are_kept(store: SQLiteStore) -> None:
    uid = await new_user(store)
    scoped = ApiToken(
        "t2", uid, "ops", "hash2", ("pwd", "otp", "mfa"), T0, T0, None, None, "account", T0 + 90
    )
    await store.create_api_token(scoped)
    assert await store.get_api_token("hash2") == scoped
    assert await store.list_api_tokens(uid) == [scoped]
    assert await store.revoke_user_tokens(uid, T0 + 1) == 1
    assert (await store.get_api_token("hash2")) == replace(scoped, revoked_at=T0 + 1)
