"""MFA enrollment and its lifecycle, as the user drives it: set up an application, verify
and save, get new recovery codes, remove the application, disable.

* `begin_setup` stores a new secret, encrypted, as a *setup* kept apart from the verified
  secret (`store._totpsetup`): it is no second factor, expires after SETUP_TTL seconds, and
  running the setup again replaces it. It is refused while an authenticator app is verified
  (remove it or disable MFA first), so a stolen session cannot swap the user's
  authenticator. A user whose MFA is on through security keys may add an app, from a login
  with MFA only (`scope.lacks_mfa_login`, the rule of every sensitive account change).
* `verify_setup` makes the setup the verified app only after one correct code for it,
  records that code's time step as spent, and turns MFA on when it was off, with 10
  recovery codes (shown once). A user whose MFA was already on through keys keeps the
  recovery codes they have (no code is replaced behind their back; `new_recovery_codes`
  makes new ones on purpose); only one with no unused code left gets 10 new ones.
* `remove_app` needs the password and a current code; MFA stays on while a security key is
  left, and goes off with the last factor as `disable` does.
* `new_recovery_codes` needs a current code (TOTP or recovery) and replaces every code.
* `disable` needs the password and a current code (TOTP or recovery: a user who lost the
  authenticator can still leave MFA); it ends the user's login sessions, and certificates
  and API tokens from before count as without `mfa` from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sshgate.accounts import recovery, totp
from sshgate.accounts.credentials import PasswordCheck
from sshgate.accounts.errors import (
    InvalidCode,
    MFAAlreadyEnabled,
    MFANotEnabled,
    NoAuthenticatorApp,
    NoPendingSetup,
    NotPermitted,
    WrongPassword,
)
from sshgate.accounts.scope import ADDING_APP_NEEDS_MFA, lacks_mfa_login
from sshgate.accounts.second_factor import SecondFactor
from sshgate.accounts.secretbox import SecretBox
from sshgate.policy import User
from sshgate.store import AppConfirmation, AppRemoved, MFAState, Store

__all__ = ["MFA", "SETUP_TTL", "Enrollment"]

# How long a setup waits for its first correct code ("Verify & save").
SETUP_TTL = 900.0


class Enrollment(NamedTuple):
    """What "Set up application" shows: the secret, its otpauth:// URI and the URI as a QR code."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class MFA:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        passwords: PasswordCheck,
        second_factor: SecondFactor,
        now: Callable[[], float],
    ) -> None:
        self._store = store
        self._box = box
        self._passwords = passwords
        self._second_factor = second_factor
        self._now = now

    async def begin_setup(self, user: User, mfa_login: bool = False) -> Enrollment:
        """A new setup for the user (replacing an older one). `mfa_login`: the login asking
        has `mfa`, needed when MFA is already on (through security keys)."""
        _may_add_app(await self._state(user), mfa_login)
        secret = totp.new_secret()
        now = self._now()
        sealed = self._box.seal(secret.encode("ascii"), user.id)
        if not await self._store.save_totp_setup(user.id, sealed, now, now + SETUP_TTL):
            raise MFAAlreadyEnabled()  # an app was verified meanwhile
        return _enrollment(secret, user)

    async def pending(self, user: User) -> Enrollment | None:
        """The setup started and not yet verified nor expired (to show it again), or None."""
        sealed = await self._store.get_totp_setup(user.id, self._now())
        if sealed is None:
            return None
        return _enrollment(self._box.open(sealed, user.id).decode("ascii"), user)

    async def has_app(self, user: User) -> bool:
        """The user has a verified authenticator app (a second factor)."""
        state = await self._store.get_mfa_state(user.id)
        return state is not None and _has_app(state)

    async def verify_setup(self, user: User, code: str, mfa_login: bool = False) -> list[str]:
        """Make the setup the user's authenticator app with one correct code; returns the
        new recovery codes, or [] when the user's MFA was on already and their unused
        recovery codes were kept."""
        now = self._now()
        sealed = await self._store.get_totp_setup(user.id, now)
        if sealed is None:
            raise NoPendingSetup()
        _may_add_app(await self._state(user), mfa_login)
        secret = self._box.open(sealed, user.id).decode("ascii")
        step = totp.matching_step(secret, code.strip(), now)
        if step is None or not await self._store.accept_totp_step(user.id, step, now):
            raise InvalidCode()
        codes = recovery.generate()
        confirmed = await self._store.confirm_totp_setup(
            user.id, sealed, recovery.code_hashes(self._box, codes), now, mfa_login
        )
        if confirmed is AppConfirmation.NOT_PENDING:
            # The setup was started again (or finished elsewhere) since this code was shown.
            raise NoPendingSetup()
        if confirmed is AppConfirmation.REFUSED:
            # An app was verified, or MFA went on for a login without it, since the checks.
            if mfa_login:
                raise MFAAlreadyEnabled()
            raise NotPermitted(ADDING_APP_NEEDS_MFA)
        return [] if confirmed is AppConfirmation.ADDED else codes

    async def new_recovery_codes(self, user: User, code: str) -> list[str]:
        if not (await self._state(user)).enabled:
            raise MFANotEnabled()
        await self._second_factor.verify(user.id, code)
        return await self._replace_recovery_codes(user, self._now())

    async def disable(self, user: User, password: str, code: str, client: str = "") -> int:
        """Turn MFA off; returns how many login sessions ended (the caller's included)."""
        if not (await self._state(user)).enabled:
            raise MFANotEnabled()
        if await self._passwords.verify(user.username, password, client) is None:
            raise WrongPassword()
        await self._second_factor.verify(user.id, code)
        return await self._store.disable_mfa(user.id, self._now())

    async def remove_app(
        self, user: User, password: str, code: str, client: str = ""
    ) -> AppRemoved:
        """Remove the authenticator app after the password and a current code (TOTP or
        recovery). MFA goes off with it (sessions end) only when no security key is left."""
        if not await self.has_app(user):
            raise NoAuthenticatorApp()
        if await self._passwords.verify(user.username, password, client) is None:
            raise WrongPassword()
        await self._second_factor.verify(user.id, code)
        removed = await self._store.remove_totp(user.id, self._now())
        if removed is None:
            raise NoAuthenticatorApp()
        return removed

    async def _state(self, user: User) -> MFAState:
        state = await self._store.get_mfa_state(user.id)
        if state is None:
            raise MFANotEnabled()
        return state

    async def _replace_recovery_codes(self, user: User, now: float) -> list[str]:
        codes = recovery.generate()
        await self._store.replace_recovery_codes(
            user.id, recovery.code_hashes(self._box, codes), now
        )
        return codes


def _has_app(state: MFAState) -> bool:
    return state.enabled and state.secret_enc is not None


def _may_add_app(state: MFAState, mfa_login: bool) -> None:
    """Refuses a setup (or its verification) for a user who already has an app, or whose
    MFA is on (through keys) from a login without MFA."""
    if _has_app(state):
        raise MFAAlreadyEnabled()
    if lacks_mfa_login(state.enabled, mfa_login):
        raise NotPermitted(ADDING_APP_NEEDS_MFA)


def _enrollment(secret: str, user: User) -> Enrollment:
    uri = totp.provisioning_uri(secret, user.username)
    return Enrollment(secret, uri, totp.qr_svg(uri))
