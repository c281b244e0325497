"""Deadlines on the store calls the gateway decides on.

A database that does not answer (a black-holed link: no reset, no error) would otherwise
hold a decision for as long as the driver's own pool and statement timeouts, tens of
seconds. The gateway gives each call `STORE_DEADLINE` seconds and then treats the store as
unavailable, which fails closed: the request is refused with the store-unavailable
message, and open sessions are closed once the outage outlasts the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from sshgate.store import StoreError

STORE_DEADLINE = 3.0

T = TypeVar("T")


async def within(work: Awaitable[T], seconds: float | None = None) -> T:
    """The result of `work`, or StoreError after `seconds` (default STORE_DEADLINE).

    The work runs as a task of its own, so that the caller returns at the deadline even
    when cancelling the work waits on the network (a driver that tells the server to
    cancel the statement, over the same dead link)."""
    if seconds is None:
        seconds = STORE_DEADLINE
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_forget)
        raise StoreError(f"the store did not answer within {seconds:g} s")
    return task.result()


def _forget(task: asyncio.Future[Any]) -> None:
    # Retrieve what the abandoned call ended with, so that asyncio does not log it.
    with contextlib.suppress(BaseException):
        task.exception()


__all__ = ["STORE_DEADLINE", "within"]
