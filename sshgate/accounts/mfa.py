"""MFA enrollment and its lifecycle, as the user drives it: set up an application, verify
and save, get new recovery codes, disable.

* `begin_setup` stores a new secret, encrypted, as *pending*: MFA stays off, and running the
  setup again replaces the pending secret. It is refused while MFA is on (disable first), so
  a stolen session cannot swap the user's authenticator.
* `verify_setup` turns MFA on only after one correct code for the pending secret, records
  that code's time step as spent, and hands out 10 recovery codes (shown once).
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
    NoPendingSetup,
    WrongPassword,
)
from sshgate.accounts.second_factor import SecondFactor, open_secret
from sshgate.accounts.secretbox import SecretBox
from sshgate.policy import User
from sshgate.store import MFAState, Store

__all__ = ["MFA", "Enrollment"]


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

    async def begin_setup(self, user: User) -> Enrollment:
        if (await self._state(user)).enabled:
            raise MFAAlreadyEnabled()
        secret = totp.new_secret()
        await self._store.set_mfa_secret(user.id, self._box.seal(secret.encode("ascii"), user.id))
        return _enrollment(secret, user)

    async def pending(self, user: User) -> Enrollment | None:
        """The setup started and not yet verified (to show it again), or None."""
        state = await self._store.get_mfa_state(user.id)
        if state is None or state.enabled:
            return None
        secret = open_secret(self._box, state)
        return None if secret is None else _enrollment(secret, user)

    async def verify_setup(self, user: User, code: str) -> list[str]:
        """Enable MFA with one correct code; returns the new recovery codes."""
        now = self._now()
        state = await self._state(user)
        if state.enabled:
            raise MFAAlreadyEnabled()
        secret = open_secret(self._box, state)
        if secret is None or state.secret_enc is None:
            raise NoPendingSetup()
        step = totp.matching_step(secret, code.strip(), now)
        if step is None or not await self._store.accept_totp_step(user.id, step, now):
            raise InvalidCode()
        codes = recovery.generate()
        if not await self._store.enable_mfa_for_secret(
            user.id, state.secret_enc, recovery.code_hashes(self._box, codes), now
        ):
            # The setup was started again (or finished elsewhere) since this code was shown.
            raise NoPendingSetup()
        return codes

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


def _enrollment(secret: str, user: User) -> Enrollment:
    uri = totp.provisioning_uri(secret, user.username)
    return Enrollment(secret, uri, totp.qr_svg(uri))
