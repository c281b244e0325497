"""Waking the gateway's supervision early when the policy moves in another process.

A store that can push changes (PostgreSQL: LISTEN/NOTIFY, see `store/_pglisten.py`) calls
back within milliseconds of a commit anywhere; the gateway then reads the policy version
and re-decides its open sessions at once instead of at its next one-second poll. The poll
stays: it is all there is on SQLite (one host), and the safety net for a notification lost
while the listening connection was down. The listener calls back once more on every
(re)connection, so what moved during an outage is caught then too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from sshgate.logs import log
from sshgate.store import StoreError

# Seconds between attempts to start listening while the database cannot be reached (the
# listener retries by itself once it has started), doubling up to the last.
SUBSCRIBE_RETRY_FIRST = 0.5
SUBSCRIBE_RETRY_MAX = 10.0


class PolicySubscription(Protocol):
    async def stop(self) -> None: ...


@runtime_checkable
class PolicyNotifier(Protocol):
    """A store that pushes policy changes (`PostgresStore`)."""

    async def listen_policy_changes(
        self, callback: Callable[[int], None]
    ) -> PolicySubscription: ...


class PolicyChanges:
    """`wait(timeout)` returns True as soon as the store says the policy moved, else False
    after `timeout` seconds. `start()` subscribes in the background (retrying while the
    database is away); `stop()` ends it. With a store that cannot push, `wait` is a sleep."""

    def __init__(self, store: object) -> None:
        self._store = store
        self._changed = asyncio.Event()
        self._subscription: PolicySubscription | None = None
        self._subscribing: asyncio.Task[None] | None = None

    @property
    def pushed(self) -> bool:
        """Whether the store can push changes at all."""
        return isinstance(self._store, PolicyNotifier)

    def start(self) -> None:
        if self.pushed and self._subscribing is None:
            self._subscribing = asyncio.get_running_loop().create_task(self._subscribe())

    async def stop(self) -> None:
        task, self._subscribing = self._subscribing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.stop()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._changed.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def notify(self, _version: int = 0) -> None:
        """The store's callback: the policy moved (or listening just (re)started)."""
        self._changed.set()

    async def _subscribe(self) -> None:
        assert isinstance(self._store, PolicyNotifier)
        delay = SUBSCRIBE_RETRY_FIRST
        while True:
            try:
                self._subscription = await self._store.listen_policy_changes(self.notify)
                log("policy_notifications", state="listening")
                return
            except StoreError as exc:
                log(
                    "policy_notifications",
                    level=logging.WARNING,
                    state="unavailable",
                    error=str(exc),
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, SUBSCRIBE_RETRY_MAX)


__all__ = ["PolicyChanges", "PolicyNotifier", "PolicySubscription"]
