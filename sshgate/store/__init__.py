"""Everything sshgate persists, behind the `Store` protocol; `open_store` picks the backend.

The backends and their drivers (aiosqlite, asyncpg) load on first use: importing the
protocol and its records loads neither.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sshgate import _lazy
from sshgate.store.base import (
    AccessFacts,
    ApiToken,
    AppConfirmation,
    AppRemoved,
    AuditEvent,
    AuditOutcome,
    AuditRecord,
    AuthorizationCode,
    CAKeyRecord,
    CertificateRecord,
    ConflictError,
    DeviceCode,
    GatewayHostKey,
    KeyRemoval,
    LiveSession,
    LoginSession,
    MemberSecurity,
    Membership,
    MFAAttempt,
    MFAState,
    NotFoundError,
    Revocation,
    SecurityKey,
    Store,
    StoreError,
    ThrottleRecord,
    ThrottleRule,
    ThrottleScope,
    TokenScope,
    WebAuthnChallenge,
)

if TYPE_CHECKING:
    from sshgate.store._pglisten import PolicyListener
    from sshgate.store.postgres import PostgresStore
    from sshgate.store.sqlite import SQLiteStore

_LAZY = {"PolicyListener": "_pglisten", "PostgresStore": "postgres", "SQLiteStore": "sqlite"}


def __getattr__(name: str) -> object:
    return _lazy.load(__name__, name, _LAZY)


_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


async def open_store(url: str, base_dir: str | None = None) -> Store:
    """Open the store named by `storage.url`.

    `sqlite:///relative/path.db` is relative to `base_dir` (the configuration file's folder;
    the working directory when None), `sqlite:////absolute/path.db` is absolute. A missing
    database file is created with mode 0600, its folder with 0700.
    `postgresql://user:password@host:port/database` (or `postgres://`) opens a PostgreSQL
    store, see docs/operations-postgresql.md.
    Raises ValueError for a URL that names no supported store, StoreError when it cannot open.
    """
    if url.startswith(_POSTGRES):
        from sshgate.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    from sshgate.store.sqlite import SQLiteStore

    return await SQLiteStore.open(sqlite_path(url, base_dir))


def sqlite_path(url: str, base_dir: str | None = None) -> str:
    """The database file that a `sqlite:///` URL names."""
    if url.startswith(_POSTGRES):
        raise ValueError("storage.url names a PostgreSQL database, not a file")
    if not url.startswith(_SQLITE):
        # Only the scheme: the rest of a URL may hold a password.
        scheme = url.split(":", 1)[0] if ":" in url else url[:20]
        raise ValueError(
            f"unsupported storage.url scheme {scheme!r}: expected sqlite:///PATH or postgresql://..."
        )
    path = url[len(_SQLITE) :]
    if not path:
        raise ValueError("storage.url names no database file: expected sqlite:///PATH")
    if path == ":memory:" or os.path.isabs(path):
        return path
    return os.path.join(base_dir if base_dir is not None else os.getcwd(), path)


__all__ = [
    "AccessFacts",
    "ApiToken",
    "AppConfirmation",
    "AppRemoved",
    "AuditEvent",
    "AuditOutcome",
    "AuditRecord",
    "AuthorizationCode",
    "CAKeyRecord",
    "CertificateRecord",
    "ConflictError",
    "DeviceCode",
    "GatewayHostKey",
    "KeyRemoval",
    "LiveSession",
    "LoginSession",
    "MFAAttempt",
    "MFAState",
    "MemberSecurity",
    "Membership",
    "NotFoundError",
    "PolicyListener",
    "PostgresStore",
    "Revocation",
    "SQLiteStore",
    "SecurityKey",
    "Store",
    "StoreError",
    "ThrottleRecord",
    "ThrottleRule",
    "ThrottleScope",
    "TokenScope",
    "WebAuthnChallenge",
    "open_store",
    "sqlite_path",
]
