"""Bearer strings: `sgs_...` for a login session, `sgt_...` for an API token.

The prefix tells the two apart without a lookup, and lets secret scanners recognise a leaked
token. 32 random bytes follow; the store keeps only the SHA-256 of the whole string, which
is enough for a value with that much entropy (no salt or slow hash needed) and lets the
lookup be an index probe.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

__all__ = ["SESSION_PREFIX", "TOKEN_PREFIX", "BearerKind", "bearer_hash", "kind_of", "new_bearer"]

SESSION_PREFIX = "sgs_"
TOKEN_PREFIX = "sgt_"
BearerKind = Literal["session", "token"]
_PREFIXES: dict[BearerKind, str] = {"session": SESSION_PREFIX, "token": TOKEN_PREFIX}
_MAX_LENGTH = 128


def new_bearer(kind: BearerKind) -> str:
    return _PREFIXES[kind] + secrets.token_urlsafe(32)


def bearer_hash(bearer: str) -> str:
    return hashlib.sha256(bearer.encode("utf-8")).hexdigest()


def kind_of(bearer: str) -> BearerKind | None:
    """Which kind of bearer this claims to be; None for anything that is neither."""
    if len(bearer) > _MAX_LENGTH or not bearer.isascii():
        return None
    for kind, prefix in _PREFIXES.items():
        if bearer.startswith(prefix) and len(bearer) > len(prefix):
            return kind
    return None
