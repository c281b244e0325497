"""The store deadline measures the store, not the queue in front of it: a call waiting
behind others that are answered keeps waiting; a store that answers nothing is given up
on after STORE_DEADLINE."""

from __future__ import annotations

import asyncio
import time

import pytest

from sshgate.ssh_gateway import deadline
from sshgate.ssh_gateway.deadline import quiet_deadline, within
from sshgate.store import StoreError


@pytest.mark.parametrize(
    ("started", "last_answer", "seconds", "limit", "gives_up"),
    [
        (100.0, float("-inf"), 3.0, 30.0, 103.0),  # nothing ever answered: from the start
        (100.0, 90.0, 3.0, 30.0, 103.0),  # an answer before the call started
        (100.0, 102.0, 3.0, 30.0, 105.0),  # an answer while waiting moves it on
        (100.0, 128.0, 3.0, 30.0, 130.0),  # ...but never past the limit
        (100.0, 200.0, 3.0, 30.0, 130.0),
        (100.0, 100.0, 5.0, 2.0, 105.0),  # a limit below the deadline is the deadline
    ],
)
def test_when_a_call_gives_up(
    started: float, last_answer: float, seconds: float, limit: float, gives_up: float
) -> None:
    assert quiet_deadline(started, last_answer, seconds, limit) == gives_up


async def test_a_call_queued_behind_answered_calls_waits_past_the_deadline() -> None:
    """Twenty calls on one serialised connection, each answered in 50 ms: the last waits
    about 1 s, five deadlines of 0.2 s, and is answered, not refused."""
    lock = asyncio.Lock()

    async def call(n: int) -> int:
        async with lock:
            await asyncio.sleep(0.05)
            return n

    started = time.monotonic()
    results = await asyncio.gather(*(within(call(n), 0.2) for n in range(20)))
    assert results == list(range(20))
    assert time.monotonic() - started > 0.8  # the queue was longer than the deadline


async def test_a_store_that_answers_nothing_is_given_up_on_after_the_deadline() -> None:
    async def black_hole() -> None:
        await asyncio.sleep(3600)

    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(within(black_hole(), 0.2) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert time.monotonic() - started < 2.0


async def test_a_hung_call_amid_answered_ones_is_given_up_on_at_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadline, "STORE_WAIT_LIMIT", 0.6)
    stop = asyncio.Event()

    async def keeps_answering() -> None:
        while not stop.is_set():
            await within(asyncio.sleep(0.02), 0.2)

    async def hung() -> None:
        await asyncio.sleep(3600)

    answering = asyncio.ensure_future(keeps_answering())
    started = time.monotonic()
    try:
        with pytest.raises(StoreError):
            await within(hung(), 0.2)
        waited = time.monotonic() - started
    finally:
        stop.set()
        await answering
    assert 0.55 < waited < 3.0


async def test_a_failed_call_is_not_an_answer() -> None:
    """A store that fails fast on some calls does not keep a hung call waiting."""
    stop = asyncio.Event()

    async def fails() -> None:
        await asyncio.sleep(0.02)
        raise StoreError("connection refused")

    async def keeps_failing() -> None:
        while not stop.is_set():
            with pytest.raises(StoreError):
                await within(fails(), 0.2)

    async def hung() -> None:
        await asyncio.sleep(3600)

    failing = asyncio.ensure_future(keeps_failing())
    started = time.monotonic()
    try:
        with pytest.raises(StoreError):
            await within(hung(), 0.2)
        waited = time.monotonic() - started
    finally:
        stop.set()
        await failing
    assert waited < 1.5
