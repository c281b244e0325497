"""The password throttle: after 10 consecutive failed passwords for one username, or from
one client address, only one attempt per minute is checked; the rest get `Throttled`.

There is deliberately no hard lock: a stranger who knows a username could otherwise lock
its owner out. Pure: the service reads the counters from the store, asks `verdict()`, claims
the attempt slots it names, and reports the outcome.

* A correct password resets the username's count. The address count is not reset by a
  success: whoever guesses from an address could otherwise reset it by logging in to an
  account of their own between guesses.
* A count is forgotten 15 minutes after its last failure. That never gives a guesser more
  than the throttled rate (10 tries per 15 minutes is less than one per minute), and it
  ends the slow lane for an office behind one NAT address after a burst of typos.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sshgate.store import ThrottleRecord, ThrottleScope

__all__ = [
    "FAILURE_LIMIT",
    "FORGET_AFTER",
    "INTERVAL",
    "Verdict",
    "forget_before",
    "keys",
    "verdict",
]

FAILURE_LIMIT = 10
INTERVAL = 60.0
FORGET_AFTER = 900.0
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,38}")
_MAX_ADDRESS = 64


@dataclass(frozen=True)
class Verdict:
    """`retry_after` > 0: refuse the attempt. Otherwise the attempt may go ahead once each
    key in `claims` (scope, subject, last_failure_at as read) is claimed in the store."""

    retry_after: float
    claims: tuple[tuple[ThrottleScope, str, float], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.retry_after <= 0


def keys(username: str, client: str) -> list[tuple[ThrottleScope, str]]:
    """The counters an attempt touches. A name that cannot be a username has no counter of
    its own (no such user can exist); its address still counts."""
    found: list[tuple[ThrottleScope, str]] = []
    if _USERNAME.fullmatch(username):
        found.append(("user", username))
    found.append(("addr", (client or "unknown")[:_MAX_ADDRESS]))
    return found


def forget_before(now: float) -> float:
    return now - FORGET_AFTER


def verdict(records: Sequence[ThrottleRecord], now: float) -> Verdict:
    """May an attempt go ahead at `now`, given the counters of its keys?"""
    retry_after = 0.0
    claims: list[tuple[ThrottleScope, str, float]] = []
    for record in records:
        if record.last_failure_at < forget_before(now) or record.failures < FAILURE_LIMIT:
            continue
        wait = record.last_failure_at + INTERVAL - now
        if wait > 0:
            retry_after = max(retry_after, wait)
        else:
            claims.append((record.scope, record.subject, record.last_failure_at))
    if retry_after > 0:
        return Verdict(retry_after)
    return Verdict(0.0, tuple(claims))
