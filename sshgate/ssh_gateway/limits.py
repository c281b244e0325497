"""Admission of new connections: how many may be unauthenticated at once, in total and per
source address (like OpenSSH's MaxStartups and PerSourceMaxStartups).

Only connections that have not authenticated count: an authenticated user's connections
(ControlMaster, parallel git fetches, a whole office behind one NAT address) are not
limited here; `max_unauthenticated` and `max_per_source` bound what a stranger can hold
open before proving anything. Pure bookkeeping, no I/O: the gateway asks, then acts.

The limits are totals for one `sshgate serve`. With `gateway.workers` processes sharing the
listening socket, each process counts only its own connections and enforces its share
(`Limits.shared_by`), rounded up, so the totals are exceeded by the rounding at most.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

MAX_UNAUTHENTICATED = "max-unauthenticated"
MAX_PER_SOURCE = "max-per-source"


@dataclass(frozen=True)
class Limits:
    max_unauthenticated: int
    max_per_source: int

    def shared_by(self, processes: int) -> Limits:
        """What one of `processes` gateway processes enforces: its share of each total."""
        return Limits(
            share(self.max_unauthenticated, processes), share(self.max_per_source, processes)
        )


def share(total: int, processes: int) -> int:
    """One process's part of a limit on the sum over `processes`: the total divided, rounded
    up, so that a small total never becomes 0 (which would refuse every connection)."""
    return -(-total // max(1, processes))


class Admission:
    """Counts unauthenticated connections; `admit` names the limit a new one would break."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, str] = {}  # connection -> source address
        self._per_source: Counter[str] = Counter()

    @property
    def unauthenticated(self) -> int:
        return len(self._pending)

    def admit(self, conn: Hashable, source: str, limits: Limits) -> str | None:
        """Count `conn` as unauthenticated; return the limit it breaks, or None.

        A refused connection is counted too until `release`: while it is being closed it
        still holds a socket, and a flood should meet the limit sooner, not later.
        """
        self._pending[conn] = source
        self._per_source[source] += 1
        if len(self._pending) > limits.max_unauthenticated:
            return MAX_UNAUTHENTICATED
        if self._per_source[source] > limits.max_per_source:
            return MAX_PER_SOURCE
        return None

    def authenticated(self, conn: Hashable) -> None:
        self.release(conn)

    def release(self, conn: Hashable) -> None:
        source = self._pending.pop(conn, None)
        if source is None:
            return
        self._per_source[source] -= 1
        if self._per_source[source] <= 0:
            del self._per_source[source]


KEEPALIVE_COUNT_MAX = 3
KEEPALIVE_MAX_INTERVAL = 30.0


def keepalive_interval(idle_timeout: int) -> float:
    """Seconds between the gateway's keepalive probes of a silent client.

    Unanswered probes (KEEPALIVE_COUNT_MAX of them) close the connection, so a client that
    vanished is let go about `idle_timeout` after it went silent, and within
    KEEPALIVE_COUNT_MAX * 30 s when idle sessions are kept forever (idle_timeout 0).
    """
    if idle_timeout <= 0:
        return KEEPALIVE_MAX_INTERVAL
    return max(1.0, min(KEEPALIVE_MAX_INTERVAL, idle_timeout / KEEPALIVE_COUNT_MAX))
