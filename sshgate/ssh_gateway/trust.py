"""Which user-CA keys the gateway trusts: the store's CA keys (so rotation reaches every
gateway without a config change) plus `ca.trusted_public_keys` files, by the rule of
`sshgate.ca.trusted_fingerprints`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from sshgate.ca import read_key_lines, trusted_fingerprints
from sshgate.store import Store

REFRESH_SECONDS = 1.0


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
