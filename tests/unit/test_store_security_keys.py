"""Security keys and passkeys in the store, and their one-time WebAuthn challenges: what the
store promises whichever database it is. The same tests run on PostgreSQL, `stores` there
being two pools (tests/integration/test_store_postgres.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sshgate.store import ConflictError, KeyRemoval, LoginSession, SecurityKey, Store
from sshgate.store.base import WebAuthnChallenge

T0 = 1_800_000_000.0
# WebAuthn's signature counter is an unsigned 32-bit number (§6.1 of the spec).
MAX_COUNTER = 2**32 - 1
Stores = tuple[Store, Store]


async def new_user(store: Store, name: str = "alice") -> str:
    return (await store.create_user(name, f"{name}@example.com", "x")).id


def security_key(uid: str, n: int, sign_count: int = 0) -> SecurityKey:
    return SecurityKey(f"key-{n}", uid, f"key {n}", f"cred-{n}", f"pk-{n}", sign_count, T0 + n)


# keys


async def test_a_first_key_turns_mfa_on_with_its_recovery_codes_and_keys_list_in_order(
    store: Store,
) -> None:
    uid = await new_user(store)
    version = await store.policy_version()
    assert await store.add_security_key(security_key(uid, 1, 7), ["h1", "h2"], T0) is True
    assert await store.policy_version() > version
    state = await store.get_mfa_state(uid)
    assert state is not None and state.enabled
    assert sorted(await store.unused_recovery_codes(uid)) == ["h1", "h2"]
    assert await store.add_security_key(security_key(uid, 2), None, T0) is False
    assert sorted(await store.unused_recovery_codes(uid)) == ["h1", "h2"]
    assert await store.list_security_keys(uid) == [security_key(uid, 1, 7), security_key(uid, 2)]
    assert await store.list_security_keys(await new_user(store, "bob")) == []


async def test_a_credential_registered_twice_is_refused_and_changes_nothing(store: Store) -> None:
    alice, bob = await new_user(store), await new_user(store, "bob")
    await store.add_security_key(security_key(alice, 1), None, T0)
    with pytest.raises(ConflictError, match="this security key is already registered"):
        await store.add_security_key(replace(security_key(bob, 1), id="other"), ["h"], T0)
    assert await store.list_security_keys(bob) == []
    state = await store.get_mfa_state(bob)
    assert state is not None and not state.enabled


@pytest.mark.parametrize(
    ("stored", "used", "accepted"),
    [
        (0, 0, True),  # an authenticator without a counter
        (0, 1, True),
        (5, 6, True),
        (5, 5, False),  # a replayed or cloned authenticator
        (5, 4, False),
        (5, 0, False),
        (MAX_COUNTER - 1, MAX_COUNTER, True),
        (MAX_COUNTER, MAX_COUNTER, False),
        (MAX_COUNTER, 0, False),
    ],
)
async def test_a_signature_counter_only_moves_forward(
    store: Store, stored: int, used: int, accepted: bool
) -> None:
    uid = await new_user(store)
    await store.add_security_key(security_key(uid, 1, stored), None, T0)
    assert await store.use_security_key(uid, "key-1", used, T0 + 60) is accepted
    (key,) = await store.list_security_keys(uid)
    assert (key.sign_count, key.last_used_at) == ((used, T0 + 60) if accepted else (stored, None))


async def test_using_a_key_resets_the_second_factors_failures_and_needs_its_owner(
    store: Store,
) -> None:
    alice, bob = await new_user(store), await new_user(store, "bob")
    await store.add_security_key(security_key(alice, 1), None, T0)
    for _ in range(3):
        assert (await store.take_mfa_attempt(alice, T0, 5, 900)).taken
    assert not await store.use_security_key(bob, "key-1", 1, T0)  # not bob's key
    assert not await store.use_security_key(alice, "key-9", 1, T0)
    state = await store.get_mfa_state(alice)
    assert state is not None and state.failures == 3
    assert await store.use_security_key(alice, "key-1", 1, T0)
    state = await store.get_mfa_state(alice)
    assert state is not None and state.failures == 0 and state.locked_until is None


async def test_the_same_counter_sent_twice_at_once_is_accepted_once(stores: Stores) -> None:
    a, b = stores
    uid = await new_user(a)
    await a.add_security_key(security_key(uid, 1), None, T0)
    for counter in range(1, 6):
        results = await asyncio.gather(
            *(s.use_security_key(uid, "key-1", counter, T0) for s in (a, b) * 5)
        )
        assert sorted(results) == [False] * 9 + [True]
    (key,) = await b.list_security_keys(uid)
    assert key.sign_count == 5


async def test_the_last_second_factor_is_removed_only_with_a_code_and_then_mfa_goes_off(
    store: Store,
) -> None:
    alice, bob = await new_user(store), await new_user(store, "bob")
    await store.add_security_key(security_key(alice, 1), ["h"], T0)
    await store.create_login_session(
        LoginSession("s1", alice, "t1", ("pwd", "hwk", "mfa"), T0, T0, T0 + 60)
    )
    assert await store.remove_security_key(alice, "key-1", T0, False) == (KeyRemoval.LAST, 0)
    assert await store.remove_security_key(bob, "key-1", T0, True) == (KeyRemoval.NOT_FOUND, 0)
    assert await store.remove_security_key(alice, "key-9", T0, True) == (KeyRemoval.NOT_FOUND, 0)
    assert len(await store.list_security_keys(alice)) == 1

    assert await store.remove_security_key(alice, "key-1", T0 + 5, True) == (KeyRemoval.REMOVED, 1)
    assert await store.list_security_keys(alice) == []
    user = await store.get_user(alice)
    assert user is not None and not user.mfa_enabled and user.mfa_revoked_at == T0 + 5
    assert await store.unused_recovery_codes(alice) == []
    session = await store.get_login_session("t1")
    assert session is not None and session.revoked_at == T0 + 5


async def test_a_key_goes_without_a_code_while_another_factor_remains(store: Store) -> None:
    uid = await new_user(store)
    await store.set_mfa_secret(uid, b"sealed")
    await store.enable_mfa(uid, T0)
    await store.add_security_key(security_key(uid, 1), None, T0)
    await store.add_security_key(security_key(uid, 2), None, T0)
    version = await store.policy_version()
    assert await store.remove_security_key(uid, "key-1", T0, False) == (KeyRemoval.REMOVED, 0)
    assert await store.policy_version() > version
    # the last key, but the authenticator app stays: MFA stays on
    assert await store.remove_security_key(uid, "key-2", T0, False) == (KeyRemoval.REMOVED, 0)
    state = await store.get_mfa_state(uid)
    assert state is not None and state.enabled


async def test_two_removals_of_a_users_two_keys_at_once_leave_one_key_and_mfa_on(
    stores: Stores,
) -> None:
    a, b = stores
    users = [await new_user(a, f"keys{n}") for n in range(10)]
    for n, uid in enumerate(users):
        assert await a.add_security_key(security_key(uid, 2 * n), ["h"], T0)
        assert not await a.add_security_key(security_key(uid, 2 * n + 1), None, T0)
    outcomes = await asyncio.gather(
        *(
            s.remove_security_key(uid, f"key-{2 * n + i}", T0, False)
            for n, uid in enumerate(users)
            for i, s in enumerate((a, b))
        )
    )
    assert sorted(o.value for o, _ in outcomes) == ["last"] * 10 + ["removed"] * 10
    for uid in users:
        assert len(await b.list_security_keys(uid)) == 1
        state = await b.get_mfa_state(uid)
        assert state is not None and state.enabled


# challenges


def challenge(uid: str, n: int = 1, expires_at: float = T0 + 300) -> WebAuthnChallenge:
    return WebAuthnChallenge(f"ch-{n}", uid, "authenticate", f"random-{n}", "signin-1", expires_at)


async def test_a_challenge_is_taken_once(store: Store) -> None:
    uid = await new_user(store)
    await store.save_webauthn_challenge(challenge(uid), T0)
    taken = await store.take_webauthn_challenge("ch-1", uid, "authenticate", "signin-1", T0 + 1)
    assert taken == challenge(uid)
    assert (
        await store.take_webauthn_challenge("ch-1", uid, "authenticate", "signin-1", T0 + 1) is None
    )


@pytest.mark.parametrize(
    ("user", "purpose", "bound_to", "now"),
    [
        ("bob", "authenticate", "signin-1", T0),
        ("alice", "register", "signin-1", T0),
        ("alice", "authenticate", "signin-2", T0),  # another sign-in's challenge
        ("alice", "authenticate", "signin-1", T0 + 300),  # expired
    ],
    ids=["other-user", "other-purpose", "other-binding", "expired"],
)
async def test_a_challenge_taken_for_something_else_is_refused_and_gone(
    store: Store, user: str, purpose: str, bound_to: str, now: float
) -> None:
    ids = {"alice": await new_user(store), "bob": await new_user(store, "bob")}
    await store.save_webauthn_challenge(challenge(ids["alice"]), T0)
    assert await store.take_webauthn_challenge("ch-1", ids[user], purpose, bound_to, now) is None
    assert (
        await store.take_webauthn_challenge("ch-1", ids["alice"], "authenticate", "signin-1", T0)
        is None
    )


async def test_saving_a_challenge_forgets_the_expired_ones(store: Store) -> None:
    uid = await new_user(store)
    await store.save_webauthn_challenge(challenge(uid, 1, expires_at=T0 + 10), T0)
    await store.save_webauthn_challenge(challenge(uid, 2, expires_at=T0 + 400), T0 + 10)
    # taken at a time it was still valid: it is gone all the same
    assert await store.take_webauthn_challenge("ch-1", uid, "authenticate", "signin-1", T0) is None
    assert await store.take_webauthn_challenge("ch-2", uid, "authenticate", "signin-1", T0)


async def test_a_challenge_taken_by_two_processes_at_once_is_given_to_one(stores: Stores) -> None:
    a, b = stores
    uid = await new_user(a)
    for n in range(10):
        await a.save_webauthn_challenge(challenge(uid, n), T0)
    taken = await asyncio.gather(
        *(
            s.take_webauthn_challenge(f"ch-{n}", uid, "authenticate", "signin-1", T0)
            for n in range(10)
            for s in (a, b, a, b)
        )
    )
    assert sorted(t.id for t in taken if t is not None) == sorted(f"ch-{n}" for n in range(10))
