"""Which user-CA keys are trusted: every key of the CA's history that may still have signed
a valid certificate, plus the keys of `ca.trusted_public_keys` files.

A key stays trusted after a newer one took over until every certificate it could have
signed has expired: certificates live at most `ca.max_certificate_ttl`. A key an operator
distrusted (`sshgate admin ca distrust`) is never trusted again, wherever it comes from.
Pure but for `read_key_lines`, which reads the files; the store's records come from the
caller.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Signers:
    """The CA keys trusted now (`trusted`), and which of them are the CA's own (`own`: in
    the store, so their certificates must be in the ledger). SHA256 fingerprints."""

    trusted: frozenset[str]
    own: frozenset[str]


def trusted_fingerprints(
    records: Sequence[SigningKeyPeriod],
    extra_lines: Sequence[str],
    now: float,
    max_ttl: int,
    distrusted: Collection[str] = (),
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
    return frozenset(trusted - set(distrusted))


def signers(
    records: Sequence[SigningKeyPeriod],
    extra_lines: Sequence[str],
    now: float,
    max_ttl: int,
    distrusted: Collection[str],
) -> Signers:
    """Pure: the trusted keys at `now`, and which of them the CA's own history holds."""
    trusted = trusted_fingerprints(records, extra_lines, now, max_ttl, distrusted)
    own = frozenset(r.fingerprint for r in records) & trusted
    return Signers(trusted, own)


def read_key_lines(paths: Sequence[Path]) -> list[str]:
    """The key lines of `paths` (`ca.trusted_public_keys`), without blanks and comments."""
    lines = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines
