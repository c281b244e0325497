"""An authenticator app being set up, kept apart from the verified one (store/_totpsetup.py):
the atomic steps, with two stores on one file (`stores`) standing for two processes. The same
tests run on PostgreSQL with two pools (tests/integration/test_store_postgres.py)."""

from __future__ import annotations

import asyncio

from sshgate.policy.model import OrgRole
from sshgate.store import AppConfirmation, AppRemoved, SecurityKey, Store

T0 = 1_800_000_000.0


def a_key(user_id: str, name: str = "yubikey") -> SecurityKey:
    return SecurityKey(
        id=f"key-{name}",
        user_id=user_id,
        name=name,
        credential_id=f"cred-{name}",
        public_key="pk",
        sign_count=0,
        created_at=T0,
    )


async def new_user(store: Store, name: str = "alice") -> str:
    return (await store.create_user(name, f"{name}@example.com", "x")).id


async def factors_of(store: Store, user_id: str) -> tuple[str, ...]:
    """The user's factors as the Security page and `org security --json` list them."""
    if await store.get_org("acme") is None:
        await store.create_org("acme")
    await store.set_member("acme", user_id, OrgRole.MEMBER)
    [row] = [m for m in await store.list_member_security("acme") if m.user_id == user_id]
    return row.factors


async def test_a_setup_is_no_factor_until_confirmed(stores: tuple[Store, Store]) -> None:
    a, b = stores
    uid = await new_user(a)
    assert await a.save_totp_setup(uid, b"pending", T0, T0 + 900)
    assert await a.add_security_key(a_key(uid), ["h1"], T0)  # MFA on through the key
    state = await b.get_mfa_state(uid)
    assert state is not None and state.enabled and state.secret_enc is None
    assert await factors_of(b, uid) == ("webauthn",)
    # the last key goes only with a code: the setup is not "another factor"
    outcome, _ = await b.remove_security_key(uid, "key-yubikey", T0, code_verified=False)
    assert outcome.value == "last"
    assert await b.get_totp_setup(uid, T0) == b"pending"


async def test_a_confirm_racing_mfa_going_on_for_a_password_login_is_refused(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    uid = await new_user(a)
    assert await a.save_totp_setup(uid, b"pending", T0, T0 + 900)
    # checked with MFA off; MFA goes on through a key before the confirmation commits
    assert await b.add_security_key(a_key(uid), ["h1"], T0)
    refused = await a.confirm_totp_setup(uid, b"pending", ["c1"], T0, mfa_login=False)
    assert refused is AppConfirmation.REFUSED
    assert (await b.get_mfa_state(uid)).secret_enc is None  # type: ignore[union-attr]


async def test_a_key_user_keeps_unused_recovery_codes_else_gets_new_ones(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    kept, fresh = await new_user(a, "kept"), await new_user(a, "fresh")
    for uid in (kept, fresh):
        assert await a.add_security_key(a_key(uid, uid), ["h1"], T0)
        assert await a.save_totp_setup(uid, b"s-" + uid.encode(), T0, T0 + 900)
    assert await a.use_recovery_code(fresh, "h1", T0)  # none left for "fresh"
    added = await b.confirm_totp_setup(kept, b"s-" + kept.encode(), ["n1"], T0, mfa_login=True)
    assert added is AppConfirmation.ADDED
    assert await a.unused_recovery_codes(kept) == ["h1"]
    renewed = await b.confirm_totp_setup(
        fresh, b"s-" + fresh.encode(), ["n1", "n2"], T0, mfa_login=True
    )
    assert renewed is AppConfirmation.ADDED_WITH_CODES
    assert sorted(await a.unused_recovery_codes(fresh)) == ["n1", "n2"]
    assert await factors_of(a, kept) == ("totp", "webauthn")
    user = await a.get_user(kept)
    assert user is not None and user.mfa_since == T0  # since the key, not the app


async def test_a_setup_is_taken_once_and_expires(stores: tuple[Store, Store]) -> None:
    a, b = stores
    uid = await new_user(a)
    assert await a.save_totp_setup(uid, b"pending", T0, T0 + 900)
    both = await asyncio.gather(
        a.confirm_totp_setup(uid, b"pending", ["c1"], T0, mfa_login=False),
        b.confirm_totp_setup(uid, b"pending", ["c2"], T0, mfa_login=False),
    )
    assert sorted(o.value for o in both) == ["enabled", "not_pending"]
    assert not await a.save_totp_setup(uid, b"another", T0, T0 + 900)  # an app is verified
    other = await new_user(a, "bob")
    assert await a.save_totp_setup(other, b"late", T0, T0 + 900)
    assert await b.get_totp_setup(other, T0 + 900) is None
    late = await b.confirm_totp_setup(other, b"late", ["c1"], T0 + 900, mfa_login=False)
    assert late is AppConfirmation.NOT_PENDING


async def test_removing_the_app_keeps_mfa_while_a_key_remains(stores: tuple[Store, Store]) -> None:
    a, b = stores
    both, app_only = await new_user(a, "both"), await new_user(a, "apponly")
    assert await a.add_security_key(a_key(both, both), ["h1"], T0)
    for uid in (both, app_only):
        assert await a.save_totp_setup(uid, b"s", T0, T0 + 900)
        assert (await a.confirm_totp_setup(uid, b"s", ["h2"], T0, mfa_login=True)).value in (
            "added",
            "enabled",
        )
    assert await b.remove_totp(both, T0 + 1) == AppRemoved(mfa_off=False, sessions_ended=0)
    assert (await a.get_user(both)).mfa_enabled  # type: ignore[union-attr]
    assert await b.remove_totp(both, T0 + 2) is None  # nothing left to remove
    removed = await b.remove_totp(app_only, T0 + 3)
    assert removed is not None and removed.mfa_off
    user = await a.get_user(app_only)
    assert user is not None and not user.mfa_enabled and user.mfa_revoked_at == T0 + 3
