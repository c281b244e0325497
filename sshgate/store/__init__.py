"""Everything sshgate persists, behind the `Store` protocol; `open_store` picks the backend."""

from __future__ import annotations

import os

from sshgate.store._pglisten import PolicyListener
from sshgate.store.base import (
    AccessFacts,
    AuditEvent,
    AuditOutcome,
    AuditRecord,
    CAKeyRecord,
    CertificateRecord,
    ConflictError,
    GatewayHostKey,
    Membership,
    NotFoundError,
    Store,
    StoreError,
)
from sshgate.store.postgres import PostgresStore
from sshgate.store.sqlite import SQLiteStore

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
        return await PostgresStore.open(url)
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
    "AuditEvent",
    "AuditOutcome",
    "AuditRecord",
    "CAKeyRecord",
    "CertificateRecord",
    "ConflictError",
    "GatewayHostKey",
    "Membership",
    "NotFoundError",
    "PolicyListener",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "open_store",
    "sqlite_path",
]
