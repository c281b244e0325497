"""Checking a second factor: a TOTP code or a recovery code, for a user with MFA enabled.

The rules, in order: a locked second factor checks nothing; every code takes a slot first,
counted as a failure, and the 5th in a row locks the second factor for 15 minutes (so a
burst of concurrent codes checks at most 5); a six-digit code is a TOTP code whose matched
time step the store accepts at most once; anything else is tried as a recovery code, spent
at most once; a correct one resets the count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sshgate.accounts import recovery, totp
from sshgate.accounts.errors import InvalidCode, SecondFactorLocked
from sshgate.accounts.secretbox import SecretBox
from sshgate.store import MFAAttempt, MFAState, Store

__all__ = ["LOCK_SECONDS", "MAX_FAILURES", "SecondFactor", "open_secret"]

MAX_FAILURES = 5
LOCK_SECONDS = 900.0
Method = Literal["totp", "recovery"]
_MAX_CODE_LENGTH = 64


def open_secret(box: SecretBox, state: MFAState) -> str | None:
    """The user's TOTP secret in base32, decrypted; None when none is stored."""
    if state.secret_enc is None:
        return None
    return box.open(state.secret_enc, state.user_id).decode("ascii")


class SecondFactor:
    def __init__(self, store: Store, box: SecretBox, now: Callable[[], float]) -> None:
        self._store = store
        self._box = box
        self._now = now

    async def verify(self, user_id: str, code: str) -> Method:
        """Which kind of code was right; InvalidCode or SecondFactorLocked otherwise. The
        attempt's slot is taken before the code is checked, so concurrent codes cannot all
        be checked before the lock."""
        now = self._now()
        state = await self._store.get_mfa_state(user_id)
        if state is None or not state.enabled:
            raise InvalidCode()
        attempt = await self.admit(user_id, now)
        code = code.strip()[:_MAX_CODE_LENGTH]
        if totp.looks_like_totp(code):
            if await self._totp(state, code, now):
                return "totp"
        elif await self._recovery(user_id, code, now):
            return "recovery"
        if attempt.locked_until is not None:
            raise SecondFactorLocked(attempt.locked_until - now)
        raise InvalidCode()

    async def admit(self, user_id: str, now: float) -> MFAAttempt:
        """Take one attempt's slot, counted as a failure until a success resets the count (a
        code here, a security key in `security_keys.py`); SecondFactorLocked or InvalidCode
        when none is left."""
        attempt = await self._store.take_mfa_attempt(user_id, now, MAX_FAILURES, LOCK_SECONDS)
        if not attempt.taken:
            if attempt.locked_until is not None and now < attempt.locked_until:
                raise SecondFactorLocked(attempt.locked_until - now)
            raise InvalidCode()
        return attempt

    async def _totp(self, state: MFAState, code: str, now: float) -> bool:
        secret = open_secret(self._box, state)
        step = None if secret is None else totp.matching_step(secret, code, now)
        return step is not None and await self._store.accept_totp_step(state.user_id, step, now)

    async def _recovery(self, user_id: str, code: str, now: float) -> bool:
        candidate = recovery.code_hash(self._box, code)
        if candidate is None:
            return False
        match = recovery.find_match(candidate, await self._store.unused_recovery_codes(user_id))
        return match is not None and await self._store.use_recovery_code(user_id, match, now)
