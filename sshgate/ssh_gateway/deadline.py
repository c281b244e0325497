"""Deadlines on the store calls the gateway decides on.

A database that does not answer (a black-holed link: no reset, no error) would otherwise
hold a decision for as long as the driver's own pool and statement timeouts, tens of
seconds. The gateway treats the store as unavailable, which fails closed (the request is
refused with the store-unavailable message, and open sessions are closed once the outage
outlasts the grace period), when a call has waited `STORE_DEADLINE` seconds *with no store
call answering in that time*.

The deadline measures the store, not the queue in front of it: under a burst of hundreds
of connections on two cores, a call can wait seconds behind the others (one SQLite
connection, a busy event loop) while the store answers every few milliseconds; such a call
keeps waiting, up to `STORE_WAIT_LIMIT` in all. A dead store answers nothing, so every call
gives up `STORE_DEADLINE` seconds after it started (or after the last answer, if later).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from sshgate.store import StoreError

STORE_DEADLINE = 3.0
STORE_WAIT_LIMIT = 30.0

T = TypeVar("T")


class _Answers:
    """When a store call last answered in this process (monotonic seconds)."""

    last = float("-inf")


def answered(task: asyncio.Future[Any]) -> None:
    """Record that the store answered: `task` (a store call) ended with a result."""
    if not task.cancelled() and task.exception() is None:
        _Answers.last = time.monotonic()


def quiet_deadline(started: float, last_answer: float, seconds: float, limit: float) -> float:
    """When a call that started at `started` gives up, if no answer comes after `last_answer`:
    `seconds` after the later of the two, and never later than `limit` after it started."""
    return min(max(started, last_answer) + seconds, started + max(limit, seconds))


async def within(work: Awaitable[T], seconds: float | None = None) -> T:
    """The result of `work`, or StoreError once the store has answered nothing for
    `seconds` (default STORE_DEADLINE) or `work` has waited STORE_WAIT_LIMIT in all.

    The work runs as a task of its own, so that the caller returns at the deadline even
    when cancelling the work waits on the network (a driver that tells the server to
    cancel the statement, over the same dead link)."""
    if seconds is None:
        seconds = STORE_DEADLINE
    started = time.monotonic()
    task = asyncio.ensure_future(work)
    task.add_done_callback(answered)
    try:
        while True:
            gives_up = quiet_deadline(started, _Answers.last, seconds, STORE_WAIT_LIMIT)
            remaining = gives_up - time.monotonic()
            if remaining <= 0:
                break
            done, _ = await asyncio.wait({task}, timeout=remaining)
            if done:
                return task.result()
    except asyncio.CancelledError:
        task.cancel()
        raise
    task.cancel()
    task.add_done_callback(_forget)
    waited = time.monotonic() - started
    raise StoreError(f"the store did not answer within {waited:.1f} s")


def _forget(task: asyncio.Future[Any]) -> None:
    # Retrieve what the abandoned call ended with, so that asyncio does not log it.
    with contextlib.suppress(BaseException):
        task.exception()


__all__ = ["STORE_DEADLINE", "STORE_WAIT_LIMIT", "within"]
