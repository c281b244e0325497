"""PolicyChanges: how the gateway's supervision is woken early by a store that pushes policy
changes (PostgreSQL NOTIFY), keeps its poll on one that cannot (SQLite), and keeps trying to
listen while the database is away. Against a real PostgreSQL:
tests/integration/test_gateway_policy_changes_postgres.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from sshgate.ssh_gateway import policy_changes
from sshgate.ssh_gateway.policy_changes import PolicyChanges
from sshgate.store import StoreError


class Subscription:
    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


class PushingStore:
    """Refuses to listen `failures` times (the database is away), then listens."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.callback: Callable[[int], None] | None = None
        self.subscription = Subscription()

    async def listen_policy_changes(self, callback: Callable[[int], None]) -> Subscription:
        if self.failures:
            self.failures -= 1
            raise StoreError("connection refused")
        self.callback = callback
        return self.subscription


async def test_a_store_that_cannot_push_leaves_the_poll_alone() -> None:
    changes = PolicyChanges(object())
    changes.start()
    assert not changes.pushed
    started = time.monotonic()
    assert await changes.wait(0.05) is False
    assert time.monotonic() - started >= 0.05
    await changes.stop()


async def test_a_pushed_change_wakes_the_waiter_at_once_and_only_once() -> None:
    store = PushingStore()
    changes = PolicyChanges(store)
    changes.start()
    while store.callback is None:
        await asyncio.sleep(0.01)
    waiting = asyncio.create_task(changes.wait(5))
    await asyncio.sleep(0.01)
    store.callback(7)
    store.callback(8)  # while the waiter is busy: one more wake, not two
    assert await asyncio.wait_for(waiting, 0.5) is True
    assert await changes.wait(0) is False
    await changes.stop()
    assert store.subscription.stopped


async def test_listening_is_retried_while_the_database_is_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(policy_changes, "SUBSCRIBE_RETRY_FIRST", 0.01)
    store = PushingStore(failures=3)
    changes = PolicyChanges(store)
    changes.start()
    async with asyncio.timeout(5):
        while store.callback is None:
            await asyncio.sleep(0.01)
    assert store.failures == 0
    await changes.stop()
    assert store.subscription.stopped


async def test_stop_while_still_trying_ends_the_attempts() -> None:
    store = PushingStore(failures=1_000_000)
    changes = PolicyChanges(store)
    changes.start()
    await asyncio.sleep(0.05)
    await changes.stop()
    left = store.failures
    await asyncio.sleep(0.6)
    assert store.failures == left
