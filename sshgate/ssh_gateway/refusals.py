"""Refused certificates per source: what a stranger can make the gateway spend and write.

Every refused key is counted (metrics), but a source address gets at most
`AUDITED_PER_WINDOW` audit rows per `WINDOW` seconds; past that its refusals are added up and
written as one `rate-limited` row when the window ends, so a flood of 10,000 refused
certificates a minute adds a few dozen rows, not 10,000. And a source may have at most
`KEYS_PER_SECOND` keys refused per second (a bucket of `KEYS_BURST`) before the gateway
stops checking its keys at all until the bucket refills (rule `rate-limited`): the
per-connection `gateway.max_auth_attempts` alone would let many connections from one
address make the gateway parse and judge without end.

IPv6 sources count per /64, the block one subscriber usually holds. The table of sources is
bounded (`MAX_SOURCES`); when full, further sources share one entry.

`RefusalBudget` is pure (the caller passes the time); `RefusalAudit` is its shell: it writes
the rows and schedules the summary of each window that had more refusals than rows.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sshgate import metrics
from sshgate.logs import key_values
from sshgate.store import AuditEvent

WINDOW = 60.0
AUDITED_PER_WINDOW = 100
KEYS_PER_SECOND = 20.0
KEYS_BURST = 60.0
MAX_SOURCES = 10_000
OVERFLOW = "*"
RATE_LIMITED = "rate-limited"


def source_key(address: str) -> str:
    """The unit a budget is kept for: the address, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Source:
    window_start: float
    audited: int = 0
    unaudited: int = 0
    tokens: float = KEYS_BURST
    refilled_at: float = 0.0


@dataclass(frozen=True)
class Summary:
    """Refusals of one source in one window that got no row of their own."""

    source: str
    count: int
    window_start: float


class RefusalBudget:
    def __init__(
        self,
        audited_per_window: int = AUDITED_PER_WINDOW,
        window: float = WINDOW,
        keys_per_second: float = KEYS_PER_SECOND,
        burst: float = KEYS_BURST,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self._audited_per_window = audited_per_window
        self.window = window
        self._rate = keys_per_second
        self._burst = burst
        self._max_sources = max_sources
        self._sources: dict[str, _Source] = {}

    def may_check(self, address: str, now: float) -> bool:
        """Whether a key from `address` may be judged at all now."""
        source = self._sources.get(self._key(address, now))
        if source is None:
            return True
        self._refill(source, now)
        return source.tokens >= 1.0

    def refused(self, address: str, now: float) -> bool:
        """Count a refused key from `address`; True when it gets an audit row of its own."""
        key = self._key(address, now)
        source = self._sources.get(key)
        if source is None:
            source = _Source(window_start=now, tokens=self._burst, refilled_at=now)
            self._sources[key] = source
        self._refill(source, now)
        source.tokens = max(0.0, source.tokens - 1.0)
        if source.audited < self._audited_per_window:
            source.audited += 1
            return True
        source.unaudited += 1
        return False

    def ended(self, now: float) -> list[Summary]:
        """The windows over by `now` that had refusals without a row; forgets sources that
        have nothing left to count."""
        summaries: list[Summary] = []
        for key, source in list(self._sources.items()):
            if now - source.window_start < self.window:
                continue
            if source.unaudited:
                summaries.append(Summary(key, source.unaudited, source.window_start))
            self._refill(source, now)
            if source.tokens >= self._burst:
                del self._sources[key]
            else:  # a new window, the bucket kept
                source.window_start, source.audited, source.unaudited = now, 0, 0
        return summaries

    def counting(self) -> bool:
        """Whether some source has refusals still to be summed up."""
        return any(source.unaudited for source in self._sources.values())

    def _key(self, address: str, now: float) -> str:
        key = source_key(address)
        if key in self._sources or len(self._sources) < self._max_sources:
            return key
        self.ended(now)  # make room: summaries of what ended are kept in the entries
        return key if len(self._sources) < self._max_sources else OVERFLOW

    def _refill(self, source: _Source, now: float) -> None:
        elapsed = max(0.0, now - source.refilled_at)
        source.tokens = min(self._burst, source.tokens + elapsed * self._rate)
        source.refilled_at = now


AuditWriter = Callable[[AuditEvent], Coroutine[Any, Any, int | None]]


class RefusalAudit:
    """Writes refusals through `write` as the budget allows, and each window's summary."""

    def __init__(self, write: AuditWriter, budget: RefusalBudget | None = None) -> None:
        self._write = write
        self.budget = budget or RefusalBudget()
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[int | None]] = set()

    def may_check(self, address: str) -> bool:
        return self.budget.may_check(address, time.monotonic())

    async def refused(self, event: AuditEvent, address: str) -> int | None:
        """Record a refusal (log line, metric, row) while the source's budget lasts; past
        it, only count it."""
        if self.budget.refused(address, time.monotonic()):
            return await self._write(event)
        metrics.auth_refused(event.reason)
        metrics.auth_refusal_unaudited()
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.budget.window, self._write_summaries)
        return None

    def _write_summaries(self) -> None:
        self._flush = None
        now = time.monotonic()
        summaries = self.budget.ended(now)
        for summary in summaries:
            seconds = round(self.budget.window)
            detail = key_values([("refusals", summary.count), ("seconds", seconds)])
            event = AuditEvent(
                time=time.time(),
                kind="auth",
                decision="deny",
                reason=RATE_LIMITED,
                client=summary.source,
                detail=detail,
            )
            task = asyncio.get_running_loop().create_task(self._write(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.budget.counting():
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.budget.window, self._write_summaries)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None


__all__ = ["RATE_LIMITED", "RefusalAudit", "RefusalBudget", "Summary", "source_key"]
