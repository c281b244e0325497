"""The MFA service's rules on an authenticator app added beside security keys
(accounts/mfa.py): the login-with-MFA rule, the recovery codes kept or renewed, the setup's
expiry. The store's own steps: tests/unit/test_store_totp_setup.py."""

from __future__ import annotations

import pyotp
import pytest

from sshgate.accounts import Accounts, NotPermitted, SecretBox, hash_password
from sshgate.accounts.mfa import SETUP_TTL
from sshgate.policy.model import User
from sshgate.store import SQLiteStore
from tests.unit.test_store_totp_setup import T0, a_key


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store: SQLiteStore, clock: Clock) -> Accounts:
    return Accounts(store, SecretBox(bytes(range(32))), session_ttl=3600, now=clock)


@pytest.fixture
async def key_user(store: SQLiteStore) -> User:
    """alice, whose MFA is on through one security key, with one recovery code."""
    user = await store.create_user("alice", "alice@example.com", hash_password("pw pw pw pw"))
    assert await store.add_security_key(a_key(user.id), ["h1"], T0)
    found = await store.get_user(user.id)
    assert found is not None
    return found


async def test_a_key_user_adds_an_app_from_a_login_with_mfa_keeping_the_recovery_codes(
    accounts: Accounts, key_user: User, clock: Clock, store: SQLiteStore
) -> None:
    with pytest.raises(NotPermitted):
        await accounts.mfa.begin_setup(key_user, mfa_login=False)
    secret = (await accounts.mfa.begin_setup(key_user, mfa_login=True)).secret
    assert await accounts.mfa.pending(key_user) is not None
    assert not await accounts.mfa.has_app(key_user)
    with pytest.raises(NotPermitted):
        await accounts.mfa.verify_setup(key_user, pyotp.TOTP(secret).at(clock()), False)
    codes = await accounts.mfa.verify_setup(key_user, pyotp.TOTP(secret).at(clock()), True)
    assert codes == [] and await store.unused_recovery_codes(key_user.id) == ["h1"]
    assert await accounts.mfa.has_app(key_user) and await accounts.mfa.pending(key_user) is None


async def test_a_key_user_without_recovery_codes_left_gets_ten_with_the_app(
    accounts: Accounts, key_user: User, clock: Clock, store: SQLiteStore
) -> None:
    assert await store.use_recovery_code(key_user.id, "h1", T0)
    secret = (await accounts.mfa.begin_setup(key_user, mfa_login=True)).secret
    codes = await accounts.mfa.verify_setup(key_user, pyotp.TOTP(secret).at(clock()), True)
    assert len(codes) == 10
    assert await accounts.login("alice", "pw pw pw pw", codes[0], "192.0.2.1")


async def test_the_setup_shown_again_is_gone_once_expired(
    accounts: Accounts, key_user: User, clock: Clock
) -> None:
    await accounts.mfa.begin_setup(key_user, mfa_login=True)
    clock.now += SETUP_TTL
    assert await accounts.mfa.pending(key_user) is None
