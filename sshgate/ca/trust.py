"""Which user-CA keys are trusted: every key of the CA's history that may still have signed
a valid certificate, plus the keys of `ca.trusted_public_keys` files.

A key stays trusted after a newer one took over until every certificate it could have
signed has expired: certificates live at most `ca.max_certificate_ttl`. Pure but for
`read_key_lines`, which reads the files; the store's records come from the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sshgate.ca.keys import fingerprint


class SigningKeyPeriod(Protocol):
    """When one of the CA's keys was in use (the store's `CAKeyRecord` is one)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def added_at(self) -> float: ...

    @property
    def retired_at(self) -> float | None: ...


def trusted_fingerprints(
    records: Sequence[SigningKeyPeriod], extra_lines: Sequence[str], now: float, max_ttl: int
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
    """The key lines of `paths` (`ca.trusted_public_keys`), without blanks and comments."""
    lines = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines
