"""Which user-CA keys the gateway trusts: the store's CA keys (so rotation reaches every
gateway without a config change) plus `ca.trusted_public_keys` files.

A key stays trusted after a newer one took over until every certificate it could have
signed has expired: certificates live at most `ca.max_certificate_ttl`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from sshgate.ca.keys import fingerprint
from sshgate.store.base import CAKeyRecord, Store

REFRESH_SECONDS = 1.0


def trusted_fingerprints(
    records: Sequence[CAKeyRecord], extra_lines: Sequence[str], now: float, max_ttl: int
) -> frozenset[str]:
    """Pure: the fingerprints trusted at `now`."""
    ordered = sorted(records, key=lambda r: r.added_at)
    trusted = set()
    for index, record in enumerate(ordered):
        successor = ordered[index + 1] if index + 1 < len(ordered) else None
        retired_at = record.retired_at
        if retired_at is None and successor is not None:
            retired_at = successor.added_at
        if retired_at is None or now < retired_at + max_ttl:
            trusted.add(record.fingerprint)
    for line in extra_lines:
        trusted.add(fingerprint(line))
    return frozenset(trusted)


def read_key_lines(paths: Sequence[Path]) -> list[str]:
    lines = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


class TrustedSigners:
    """A cache of `trusted_fingerprints`, refreshed from the store at most once a second."""

    def __init__(self, store: Store, extra_files: Sequence[Path], max_ttl: int) -> None:
        self._store = store
        self._extra_files = tuple(extra_files)
        self._extra_lines = read_key_lines(self._extra_files)
        self._max_ttl = max_ttl
        self._cached: frozenset[str] = frozenset()
        self._loaded_at = 0.0

    def reload_files(self) -> None:
        self._extra_lines = read_key_lines(self._extra_files)
        self._loaded_at = 0.0

    async def current(self) -> frozenset[str]:
        now = time.time()
        if now - self._loaded_at >= REFRESH_SECONDS:
            records = await self._store.list_ca_keys()
            self._cached = trusted_fingerprints(records, self._extra_lines, now, self._max_ttl)
            self._loaded_at = now
        return self._cached
