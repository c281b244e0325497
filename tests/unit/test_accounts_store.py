"""The accounts half of the SQLite store: the atomic steps that must hold across processes.
Two `SQLiteStore`s on one file stand for two sshgate processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sshgate.store import SQLiteStore
from sshgate.store.base import ApiToken, LoginSession

T0 = 1_800_000_000.0


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    path = str(tmp_path / "sshgate.db")
    a = await SQLiteStore.open(path)
    b = await SQLiteStore.open(path)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


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
    for i in range(4):
        assert await (a, b)[i % 2].record_mfa_failure(uid, T0, 5, 900) is None
    assert await a.record_mfa_failure(uid, T0, 5, 900) == T0 + 900
    state = await b.get_mfa_state(uid)
    assert state is not None and state.failures == 0 and state.locked_until == T0 + 900
    assert not await a.accept_totp_step(uid, 100, T0 + 899)  # locked: nothing accepted
    assert await a.accept_totp_step(uid, 100, T0 + 900)


async def test_disable_mfa_ends_sessions_drops_codes_and_marks_revocation(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    a, _ = stores
    uid = await new_user(a)
    for i in range(2):
        await a.create_login_session(
            LoginSession(f"s{i}", uid, f"h{i}", ("pwd", "mfa"), T0, T0, T0 + 60)
        )
    assert await a.enable_mfa_for_secret(uid, b"sealed", [], T0) is False  # no pending secret
    await a.set_mfa_secret(uid, b"sealed")
    assert await a.enable_mfa_for_secret(uid, b"other", ["c1"], T0) is False
    assert await a.enable_mfa_for_secret(uid, b"sealed", ["c1", "c2"], T0) is True
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


async def test_throttle_counts_claims_and_forgets(stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = stores
    keys = [("user", "alice"), ("addr", "10.0.0.1")]
    for _ in range(3):
        await a.record_login_failure(keys, T0, T0 - 900)  # type: ignore[arg-type]
    found = {(r.scope, r.subject): r for r in await b.read_login_throttle(keys)}  # type: ignore[arg-type]
    assert found[("user", "alice")].failures == 3
    claims = await asyncio.gather(
        a.claim_login_attempt("user", "alice", T0, T0 + 60),
        b.claim_login_attempt("user", "alice", T0, T0 + 60),
    )
    assert sorted(claims) == [False, True]
    await a.clear_login_failures("user", "alice")
    assert [r.scope for r in await a.read_login_throttle(keys)] == ["addr"]  # type: ignore[arg-type]
    # a failure much later forgets the stale address count first
    await a.record_login_failure([("addr", "10.0.0.1")], T0 + 10_000, T0 + 10_000 - 900)
    (addr,) = await a.read_login_throttle([("addr", "10.0.0.1")])
    assert addr.failures == 1


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
    assert found is not None and found.revoked_at == T0 + 2
