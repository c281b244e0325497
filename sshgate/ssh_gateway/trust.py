"""Which user-CA keys the gateway trusts: the store's CA keys (so rotation reaches every
gateway without a config change) plus `ca.trusted_public_keys` files, less every key an
operator distrusted, by the rule of `sshgate.ca.signers`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from sshgate.ca import Signers, read_key_lines, signers
from sshgate.store import Store

# The cache is read again at least this often, and at once when the policy version moves
# (`invalidate`), which a rotation or a distrust does: on every gateway within a second.
REFRESH_SECONDS = 1.0


class TrustedSigners:
    """A cache of `signers`, refreshed from the store at most once a second, and at once
    after `invalidate`."""

    def __init__(self, store: Store, extra_files: Sequence[Path], max_ttl: int) -> None:
        self._store = store
        self._extra_files = tuple(extra_files)
        self._extra_lines = read_key_lines(self._extra_files)
        self._max_ttl = max_ttl
        self._cached = Signers(frozenset(), frozenset())
        self._loaded_at = float("-inf")

    def reload_files(self) -> None:
        self._extra_lines = read_key_lines(self._extra_files)
        self.invalidate()

    def invalidate(self) -> None:
        """The policy moved (a rotation, a distrust): read the store on the next use."""
        self._loaded_at = float("-inf")

    async def current(self) -> Signers:
        now = time.monotonic()
        if now - self._loaded_at >= REFRESH_SECONDS:
            records = await self._store.list_ca_keys()
            distrusted = await self._store.list_distrusted_ca_keys()
            self._cached = signers(
                records, self._extra_lines, time.time(), self._max_ttl, distrusted
            )
            self._loaded_at = now
        return self._cached
