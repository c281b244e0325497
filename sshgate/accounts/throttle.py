"""The password throttle: after 10 consecutive failed passwords for one username, or from
one client address, only one attempt per minute is checked; the rest get `Throttled`.

There is deliberately no hard lock: a stranger who knows a username could otherwise lock
its owner out. The store applies the rule atomically (`Store.take_login_attempt`): an
attempt first takes a slot, counted as a failure, on every key it touches, and only then is
the password checked. So a burst of concurrent attempts, on one API process or many sharing
the store, checks at most `FAILURE_LIMIT` passwords, and then one per minute.

* A correct password resets the counts of the username and of the address: the failures
  were consecutive up to it. So a success from an office's shared address does not leave
  it throttled for everyone else behind it. (Someone guessing from an address can reset the
  address count by logging in to an account of their own; each guessed username keeps its
  own count, which a success on another account does not touch.)
* A count is forgotten 15 minutes after its last failure. That never gives a guesser more
  than the throttled rate (10 tries per 15 minutes is less than one per minute), and it
  ends the slow lane for an office behind one NAT address after a burst of typos.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sshgate.store import ThrottleRecord, ThrottleRule, ThrottleScope

__all__ = [
    "FAILURE_LIMIT",
    "FORGET_AFTER",
    "INTERVAL",
    "RULE",
    "keys",
    "retry_after",
]

FAILURE_LIMIT = 10
INTERVAL = 60.0
FORGET_AFTER = 900.0
RULE = ThrottleRule(limit=FAILURE_LIMIT, interval=INTERVAL, forget_after=FORGET_AFTER)
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,38}")
_MAX_ADDRESS = 64


def keys(username: str, client: str) -> list[tuple[ThrottleScope, str]]:
    """The counters an attempt touches. A name that cannot be a username has no counter of
    its own (no such user can exist); its address still counts."""
    found: list[tuple[ThrottleScope, str]] = []
    if _USERNAME.fullmatch(username):
        found.append(("user", username))
    found.append(("addr", (client or "unknown")[:_MAX_ADDRESS]))
    return found


def retry_after(records: Sequence[ThrottleRecord], now: float) -> float:
    """How long a refused attempt should wait: until the latest throttled key's next slot
    (at least one second, so that a refusal never says "now")."""
    wait = 1.0
    for record in records:
        if record.failures >= FAILURE_LIMIT and record.last_failure_at >= now - FORGET_AFTER:
            wait = max(wait, record.last_failure_at + INTERVAL - now)
    return wait
