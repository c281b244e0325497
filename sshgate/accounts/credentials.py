"""Checking a password: the throttle around it, and the same work whether the user exists.

Used by the login and by the actions a signed-in user confirms with their password
(password change, MFA disable), so a stolen session cannot guess the password faster than
a stranger could. argon2 runs in a worker thread: it takes tens of milliseconds of CPU, and
the gateway may share this event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sshgate.accounts import throttle
from sshgate.accounts.errors import Throttled
from sshgate.accounts.passwords import MAX_PASSWORD_LENGTH, verify_password
from sshgate.policy import User
from sshgate.store import Store

__all__ = ["PasswordCheck"]


class PasswordCheck:
    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self._store = store
        self._now = now

    async def verify(self, username: str, password: str, client: str) -> User | None:
        """The user, when `password` is theirs and they are not disabled; else None. Raises
        Throttled without checking anything when the username or the address has failed too
        often. The attempt is counted as a failure before the check and cleared by a success,
        so concurrent attempts cannot all slip in under the limit."""
        keys = throttle.keys(username, client)
        now = self._now()
        if not await self._store.take_login_attempt(keys, now, throttle.RULE):
            records = await self._store.read_login_throttle(keys)
            raise Throttled(throttle.retry_after(records, now))
        user = await self._store.get_user_by_name(username) if keys[0][0] == "user" else None
        stored = None
        if user is not None and not user.disabled:
            stored = await self._store.get_password_hash(user.id)
        if len(password) > MAX_PASSWORD_LENGTH:
            stored = None  # still do the work, so that the answer takes as long
        # verify_password(None, ...) hashes against a dummy: unknown users cost the same.
        ok = await asyncio.to_thread(verify_password, stored, password)
        if not ok or user is None or stored is None:
            return None
        await self._store.clear_login_failures(keys)
        return user
