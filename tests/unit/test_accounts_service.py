"""The accounts service over a real SQLite store, with an injected clock: TOTP time steps and
lock periods are reached by moving the clock, never by sleeping."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pyotp
import pytest

from sshgate.accounts import (
    Accounts,
    InvalidCode,
    InvalidToken,
    LoginFailed,
    MFAAlreadyEnabled,
    NotPermitted,
    PasswordPolicyError,
    SecondFactorLocked,
    SecondFactorRequired,
    SecretBox,
    Throttled,
    WrongPassword,
    hash_password,
)
from sshgate.accounts import credentials as credentials_module
from sshgate.policy.model import User
from sshgate.store import CertificateRecord, SQLiteStore

T0 = 1_800_000_000.0  # the start of a TOTP time step
PASSWORD = "correct horse battery"
CLIENT = "192.0.2.1"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def next_step(self) -> float:
        """Move to the start of the next TOTP time step."""
        self.now = (int(self.now) // 30 + 1) * 30.0
        return self.now


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(bytes(range(32)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store: SQLiteStore, box: SecretBox, clock: Clock) -> Accounts:
    return Accounts(store, box, session_ttl=3600, now=clock)


@pytest.fixture
async def alice(store: SQLiteStore) -> User:
    return await store.create_user("alice", "alice@example.com", hash_password(PASSWORD))


async def enable_mfa(accounts: Accounts, user: User, clock: Clock) -> tuple[str, list[str]]:
    """Set up and verify MFA at the clock's time; returns the secret and recovery codes."""
    secret, _, _ = await accounts.mfa.begin_setup(user)
    codes = await accounts.mfa.verify_setup(user, pyotp.TOTP(secret).at(clock()))
    return secret, codes


def wrong_code(secret: str, at: float) -> str:
    valid = {pyotp.TOTP(secret).at(at + 30 * d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


# logging in


async def test_login_without_mfa_gives_pwd(accounts: Accounts, alice: User) -> None:
    result = await accounts.login("alice", PASSWORD, None, CLIENT)
    assert result.amr == ("pwd",) and result.user.id == alice.id
    assert result.token.startswith("sgs_") and result.expires_at == T0 + 3600
    principal = await accounts.session_from_token(result.token)
    assert (principal.user.id, principal.amr, principal.kind) == (alice.id, ("pwd",), "session")
    assert principal.jti == result.session_id and principal.auth_time == int(T0)


async def test_unknown_user_and_wrong_password_fail_alike(
    accounts: Accounts, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []
    real = credentials_module.verify_password

    def spy(stored: str | None, password: str) -> bool:
        seen.append(stored)
        return real(stored, password)

    monkeypatch.setattr(credentials_module, "verify_password", spy)
    with pytest.raises(LoginFailed) as unknown:
        await accounts.login("mallory", PASSWORD, None, CLIENT)
    with pytest.raises(LoginFailed) as wrong:
        await accounts.login("alice", "wrong password", None, CLIENT)
    assert type(unknown.value) is type(wrong.value)
    assert str(unknown.value) == str(wrong.value) == "invalid username or password"
    # argon2 ran both times: once against the dummy hash, once against alice's
    assert seen[0] is None and seen[1] is not None


async def test_disabled_user_fails_like_a_wrong_password(
    accounts: Accounts, store: SQLiteStore, alice: User
) -> None:
    await store.set_user_disabled(alice.id, True)
    with pytest.raises(LoginFailed):
        await accounts.login("alice", PASSWORD, None, CLIENT)


async def test_mfa_login_needs_a_code_only_after_the_password(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    with pytest.raises(LoginFailed):
        await accounts.login("alice", "wrong password", None, CLIENT)
    with pytest.raises(SecondFactorRequired):
        await accounts.login("alice", PASSWORD, None, CLIENT)
    at = clock.next_step()
    result = await accounts.login("alice", PASSWORD, pyotp.TOTP(secret).at(at), CLIENT)
    assert result.amr == ("pwd", "otp", "mfa")
    principal = await accounts.session_from_token(result.token)
    assert principal.amr == ("pwd", "otp", "mfa") and principal.has_mfa


async def test_the_code_that_verified_setup_cannot_log_in(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    with pytest.raises(InvalidCode):
        await accounts.login("alice", PASSWORD, pyotp.TOTP(secret).at(clock()), CLIENT)


async def test_a_replayed_step_is_refused(accounts: Accounts, alice: User, clock: Clock) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    code = pyotp.TOTP(secret).at(clock.next_step())
    await accounts.login("alice", PASSWORD, code, CLIENT)
    clock.now += 10  # same step, still within the window
    with pytest.raises(InvalidCode):
        await accounts.login("alice", PASSWORD, code, CLIENT)
    # the previous step's code is within ±1 but older than the one accepted: refused too
    with pytest.raises(InvalidCode):
        await accounts.login("alice", PASSWORD, pyotp.TOTP(secret).at(clock() - 30), CLIENT)


async def test_concurrent_logins_with_one_code_exactly_one_wins(
    accounts: Accounts, alice: User, clock: Clock, db_path: Path, box: SecretBox
) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    code = pyotp.TOTP(secret).at(clock.next_step())
    other = await SQLiteStore.open(str(db_path))  # a second process on the same database
    try:
        second = Accounts(other, box, now=clock)
        results = await asyncio.gather(
            accounts.login("alice", PASSWORD, code, CLIENT),
            second.login("alice", PASSWORD, code, CLIENT),
            accounts.mfa.new_recovery_codes(alice, code),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, InvalidCode) for r in results if isinstance(r, BaseException))


async def test_five_wrong_codes_lock_the_second_factor_for_15_minutes(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    at = clock.next_step()
    for _ in range(4):
        with pytest.raises(InvalidCode):
            await accounts.login("alice", PASSWORD, wrong_code(secret, at), CLIENT)
    with pytest.raises(SecondFactorLocked) as locked:
        await accounts.login("alice", PASSWORD, wrong_code(secret, at), CLIENT)
    assert locked.value.retry_after == 900
    clock.now = at + 899
    with pytest.raises(SecondFactorLocked):  # even the right code is not checked
        await accounts.login("alice", PASSWORD, pyotp.TOTP(secret).at(clock()), CLIENT)
    clock.now = at + 900
    result = await accounts.login("alice", PASSWORD, pyotp.TOTP(secret).at(clock()), CLIENT)
    assert result.amr == ("pwd", "otp", "mfa")


async def test_a_success_resets_the_wrong_code_count(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    for _ in range(3):
        at = clock.next_step()
        for _ in range(4):
            with pytest.raises(InvalidCode):
                await accounts.login("alice", PASSWORD, wrong_code(secret, at), CLIENT)
        await accounts.login("alice", PASSWORD, pyotp.TOTP(secret).at(at), CLIENT)


async def test_a_recovery_code_works_once_in_any_spelling(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    _, codes = await enable_mfa(accounts, alice, clock)
    assert len(codes) == 10
    result = await accounts.login("alice", PASSWORD, codes[0].upper().replace("-", " "), CLIENT)
    assert result.amr == ("pwd", "otp", "mfa")
    with pytest.raises(InvalidCode):
        await accounts.login("alice", PASSWORD, codes[0], CLIENT)
    assert (await accounts.login("alice", PASSWORD, codes[1], CLIENT)).amr == ("pwd", "otp", "mfa")


async def test_new_recovery_codes_replace_the_old_ones(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    secret, old = await enable_mfa(accounts, alice, clock)
    new = await accounts.mfa.new_recovery_codes(alice, pyotp.TOTP(secret).at(clock.next_step()))
    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(InvalidCode):
        await accounts.login("alice", PASSWORD, old[0], CLIENT)
    await accounts.login("alice", PASSWORD, new[0], CLIENT)


async def test_totp_secret_and_recovery_codes_are_not_in_the_database_in_clear(
    accounts: Accounts, alice: User, clock: Clock, db_path: Path, store: SQLiteStore
) -> None:
    secret, codes = await enable_mfa(accounts, alice, clock)
    state = await store.get_mfa_state(alice.id)
    assert state is not None and state.secret_enc is not None  # it is stored, sealed
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    data = b"".join(p.read_bytes() for p in files)
    assert len(data) > 0
    assert secret.encode() not in data
    assert base64.b32decode(secret) not in data
    for code in codes:
        assert code.encode() not in data and code.replace("-", "").encode() not in data


async def test_verify_setup_needs_a_correct_code_and_setup_is_refused_once_enabled(
    accounts: Accounts, alice: User, clock: Clock, store: SQLiteStore
) -> None:
    secret, uri, svg = await accounts.mfa.begin_setup(alice)
    assert "secret=" + secret in uri and svg.startswith("<svg")
    with pytest.raises(InvalidCode):
        await accounts.mfa.verify_setup(alice, wrong_code(secret, clock()))
    user = await store.get_user(alice.id)
    assert user is not None and not user.mfa_enabled
    await accounts.mfa.verify_setup(alice, pyotp.TOTP(secret).at(clock()))
    user = await store.get_user(alice.id)
    assert user is not None and user.mfa_enabled and user.mfa_since == clock()
    with pytest.raises(MFAAlreadyEnabled):
        await accounts.mfa.begin_setup(alice)


async def test_verify_uses_the_latest_setup(accounts: Accounts, alice: User, clock: Clock) -> None:
    first, _, _ = await accounts.mfa.begin_setup(alice)
    second, _, _ = await accounts.mfa.begin_setup(alice)
    with pytest.raises(InvalidCode):
        await accounts.mfa.verify_setup(alice, pyotp.TOTP(first).at(clock()))
    await accounts.mfa.verify_setup(alice, pyotp.TOTP(second).at(clock()))


# the password throttle


async def test_ten_failures_throttle_the_username_to_one_attempt_a_minute(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    for i in range(10):
        with pytest.raises(LoginFailed):
            await accounts.login("alice", "wrong password", None, f"198.51.100.{i}")
    with pytest.raises(Throttled) as throttled:  # even with the right password
        await accounts.login("alice", PASSWORD, None, "203.0.113.9")
    assert throttled.value.retry_after == 60
    clock.now += 30
    with pytest.raises(Throttled) as throttled:
        await accounts.login("alice", PASSWORD, None, "203.0.113.9")
    assert throttled.value.retry_after == 30
    clock.now += 30  # a minute after the last failure: one attempt goes through
    await accounts.login("alice", PASSWORD, None, "203.0.113.9")
    # the success reset alice's count: no throttle for her any more
    await accounts.login("alice", PASSWORD, None, "203.0.113.10")


async def test_ten_failures_from_one_address_throttle_it_until_a_success_from_it(
    accounts: Accounts, alice: User, store: SQLiteStore, clock: Clock
) -> None:
    await store.create_user("bob", "bob@example.com", hash_password(PASSWORD))
    for i in range(10):
        with pytest.raises(LoginFailed):
            await accounts.login(f"user{i}", "guess", None, CLIENT)
    with pytest.raises(Throttled):
        await accounts.login("alice", PASSWORD, None, CLIENT)
    await accounts.login("alice", PASSWORD, None, "203.0.113.9")  # another address is fine
    clock.now += 60
    await accounts.login("bob", PASSWORD, None, CLIENT)  # this minute's one attempt
    # the failures were consecutive until bob's success: the address is not left locked
    await accounts.login("alice", PASSWORD, None, CLIENT)


# sessions and tokens


async def test_session_expires_and_logout_ends_it(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    first = await accounts.login("alice", PASSWORD, None, CLIENT)
    clock.now += 3600
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(first.token)
    second = await accounts.login("alice", PASSWORD, None, CLIENT)
    await accounts.logout(await accounts.session_from_token(second.token))
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(second.token)


@pytest.mark.parametrize(
    "bearer", ["", "nonsense", "sgs_unknown", "sgt_unknown", "sgs_" + "x" * 300], ids=repr
)
async def test_unknown_bearers_are_invalid(accounts: Accounts, bearer: str) -> None:
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(bearer)


async def test_token_created_before_mfa_stays_without_mfa(
    accounts: Accounts, alice: User, clock: Clock
) -> None:
    login = await accounts.login("alice", PASSWORD, None, CLIENT)
    created = await accounts.create_token(await accounts.session_from_token(login.token), "ci")
    assert created.token.startswith("sgt_") and created.record.amr == ("pwd",)
    secret, _ = await enable_mfa(accounts, alice, clock)
    principal = await accounts.session_from_token(created.token)
    assert principal.amr == ("pwd",) and principal.kind == "token"
    assert principal.jti == created.record.id
    # re-created from a login with MFA, it carries mfa
    login = await accounts.login(
        "alice", PASSWORD, pyotp.TOTP(secret).at(clock.next_step()), CLIENT
    )
    again = await accounts.create_token(await accounts.session_from_token(login.token), "ci")
    assert (await accounts.session_from_token(again.token)).amr == ("pwd", "otp", "mfa")


async def test_mfa_reset_ends_sessions_and_takes_mfa_from_tokens(
    accounts: Accounts, alice: User, clock: Clock, store: SQLiteStore
) -> None:
    secret, _ = await enable_mfa(accounts, alice, clock)
    login = await accounts.login(
        "alice", PASSWORD, pyotp.TOTP(secret).at(clock.next_step()), CLIENT
    )
    token = await accounts.create_token(await accounts.session_from_token(login.token), "ci")
    assert (await accounts.session_from_token(token.token)).amr == ("pwd", "otp", "mfa")
    clock.now += 100
    await store.reset_mfa(alice.id, clock())  # what `sshgate admin user mfa-reset` does
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(login.token)
    assert (await accounts.session_from_token(token.token)).amr == ("pwd",)
    # MFA enabled again later: the old token still lacks mfa
    clock.now += 100
    await enable_mfa(accounts, alice, clock)
    assert (await accounts.session_from_token(token.token)).amr == ("pwd",)


async def test_after_an_mfa_reset_the_user_can_enrol_again_at_once(
    accounts: Accounts, alice: User, clock: Clock, store: SQLiteStore
) -> None:
    await enable_mfa(accounts, alice, clock)  # accepts this time step for the old secret
    await store.reset_mfa(alice.id, clock())
    # Same time step, new secret: the step spent belonged to the secret that is gone.
    await enable_mfa(accounts, alice, clock)
    assert (await store.get_mfa_state(alice.id)).enabled  # type: ignore[union-attr]


async def test_mfa_disable_needs_password_and_code_and_ends_sessions(
    accounts: Accounts, alice: User, clock: Clock, store: SQLiteStore
) -> None:
    secret, codes = await enable_mfa(accounts, alice, clock)
    login = await accounts.login(
        "alice", PASSWORD, pyotp.TOTP(secret).at(clock.next_step()), CLIENT
    )
    token = await accounts.create_token(await accounts.session_from_token(login.token), "ci")
    clock.now += 40
    with pytest.raises(WrongPassword):
        await accounts.mfa.disable(alice, "wrong password", pyotp.TOTP(secret).at(clock()))
    with pytest.raises(InvalidCode):
        await accounts.mfa.disable(alice, PASSWORD, wrong_code(secret, clock()))
    assert await accounts.mfa.disable(alice, PASSWORD, codes[0]) == 1
    user = await store.get_user(alice.id)
    assert user is not None and not user.mfa_enabled
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(login.token)
    assert (await accounts.session_from_token(token.token)).amr == ("pwd",)
    # and the password alone logs in again
    assert (await accounts.login("alice", PASSWORD, None, CLIENT)).amr == ("pwd",)


async def test_password_change_ends_sessions_and_revokes_certificates(
    accounts: Accounts, alice: User, store: SQLiteStore
) -> None:
    login = await accounts.login("alice", PASSWORD, None, CLIENT)
    await store.record_certificate(
        CertificateRecord(7, alice.id, "SHA256:k", 0, 10, ("pwd",), "s", "SHA256:ca", 0.0)
    )
    with pytest.raises(WrongPassword):
        await accounts.change_password(alice, "wrong password", "a new long password")
    with pytest.raises(PasswordPolicyError):
        await accounts.change_password(alice, PASSWORD, "short")
    changed = await accounts.change_password(alice, PASSWORD, "a new long password")
    assert (changed.sessions_ended, changed.certificates_revoked) == (1, 1)
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(login.token)
    record = await store.get_certificate(7)
    assert record is not None and record.revoked_at is not None
    with pytest.raises(LoginFailed):
        await accounts.login("alice", PASSWORD, None, CLIENT)
    await accounts.login("alice", "a new long password", None, CLIENT)


async def test_tokens_are_made_from_sessions_only_and_revocable(
    accounts: Accounts, alice: User, store: SQLiteStore
) -> None:
    login = await accounts.login("alice", PASSWORD, None, CLIENT)
    created = await accounts.create_token(await accounts.session_from_token(login.token), "ci")
    as_token = await accounts.session_from_token(created.token)
    with pytest.raises(NotPermitted):
        await accounts.create_token(as_token, "more")
    with pytest.raises(NotPermitted):
        await accounts.logout(as_token)
    assert [t.id for t in await accounts.list_tokens(alice)] == [created.record.id]
    await accounts.revoke_token(alice, created.record.id)
    with pytest.raises(InvalidToken):
        await accounts.session_from_token(created.token)


async def test_a_disabled_users_bearers_stop_working(
    accounts: Accounts, alice: User, store: SQLiteStore
) -> None:
    login = await accounts.login("alice", PASSWORD, None, CLIENT)
    created = await accounts.create_token(await accounts.session_from_token(login.token), "ci")
    await store.set_user_disabled(alice.id, True)
    for bearer in (login.token, created.token):
        with pytest.raises(InvalidToken):
            await accounts.session_from_token(bearer)
