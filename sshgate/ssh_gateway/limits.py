"""Admission of new connections: how many may be unauthenticated at once, in total and per
source address (like OpenSSH's MaxStartups and PerSourceMaxStartups).

Only connections that have not authenticated count: an authenticated user's connections
(ControlMaster, parallel git fetches, a whole office behind one NAT address) are not
limited here; `max_unauthenticated` and `max_per_source` bound what a stranger can hold
open before proving anything. A connection behind a PROXY protocol balancer counts from
its first byte: while its header is awaited it counts in the total only (its client is not
known yet, and the balancer's own address must not fill up), then against its client's
address as well.

The limits are totals for one `sshgate serve`, however many gateway processes share the
listening socket (`gateway.workers`): `Admission` counts for one process, and
`sshgate.ssh_gateway.shared_admission` for all of them in one shared table. Both decide
with `refusal`, pure bookkeeping without I/O: the gateway asks, then acts.
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


def refusal(total: int, from_source: int, limits: Limits) -> str | None:
    """The limit that `total` unauthenticated connections, `from_source` of them from one
    source (both counting the new one), break; None when they break none."""
    if total > limits.max_unauthenticated:
        return MAX_UNAUTHENTICATED
    if from_source > limits.max_per_source:
        return MAX_PER_SOURCE
    return None


class Admission:
    """Counts one process's unauthenticated connections; `admit` names the limit a new one
    would break. A refused connection is counted too until `release`: while it is being
    closed it still holds a socket, and a flood should meet the limit sooner, not later."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, str | None] = {}  # connection -> source, if known
        self._per_source: Counter[str] = Counter()

    @property
    def unauthenticated(self) -> int:
        return len(self._pending)

    def admit(self, conn: Hashable, source: str | None, limits: Limits) -> str | None:
        """Count `conn`, from `source` (None: not known yet, see `identify`); return the
        limit it breaks, or None."""
        self._pending[conn] = source
        if source is None:
            return refusal(len(self._pending), 0, limits)
        self._per_source[source] += 1
        return refusal(len(self._pending), self._per_source[source], limits)

    def identify(self, conn: Hashable, source: str, limits: Limits) -> str | None:
        """`conn`, admitted without a source, comes from `source` (its PROXY header said
        so): count it there too; return MAX_PER_SOURCE if that breaks the limit."""
        if conn not in self._pending or self._pending[conn] is not None:
            return None
        self._pending[conn] = source
        self._per_source[source] += 1
        return MAX_PER_SOURCE if self._per_source[source] > limits.max_per_source else None

    def authenticated(self, conn: Hashable) -> None:
        self.release(conn)

    def release(self, conn: Hashable) -> None:
        if conn not in self._pending:
            return
        source = self._pending.pop(conn)
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
