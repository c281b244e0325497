"""One SQLite connection per process, shared by all its coroutines, and its transactions.

aiosqlite runs every statement on one worker thread, so the connection is already
serialised; the asyncio lock makes that hold for whole transactions too, so that a reader
never sees another coroutine's uncommitted writes on the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator

import aiosqlite

from sshgate.store._migrations import apply_sqlite_migrations
from sshgate.store.base import ConflictError, NotFoundError, StoreError

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000
# RETURNING (3.35) and ON CONFLICT ... DO UPDATE (3.24) keep each mutation one statement.
MIN_SQLITE_VERSION = (3, 35, 0)


class Transaction:
    """Statements that run between one BEGIN and its COMMIT."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, *params: object) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def one(self, sql: str, *params: object) -> sqlite3.Row | None:
        rows = await self.rows(sql, *params)
        return rows[0] if rows else None


class Database:
    """The open database file. Use `read()`/`write()` for several statements that must see
    one snapshot or commit together, `rows()` for a single statement."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: str) -> Database:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(f"SQLite {sqlite3.sqlite_version} is too old; sshgate needs 3.35+")
        if path != MEMORY:
            _create_private_file(path)
        try:
            # isolation_level=None: the sqlite3 module must not open transactions behind our
            # back; write() and read() say BEGIN themselves.
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        try:
            with _translated():
                conn.row_factory = sqlite3.Row
                await _configure(conn, path)
                await apply_sqlite_migrations(conn, time.time())
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await conn.close()

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    async def rows(
        self, sql: str, *params: object, conflict: str | None = None
    ) -> list[sqlite3.Row]:
        """Run one statement on its own (autocommit): one round trip to the worker thread."""
        async with self._lock:
            conn = self._connection()
            with _translated(conflict):
                return list(await conn.execute_fetchall(sql, params))

    async def one(self, sql: str, *params: object) -> sqlite3.Row | None:
        rows = await self.rows(sql, *params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        async with self._transaction("BEGIN", None) as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def write(self, conflict: str | None = None) -> AsyncIterator[Transaction]:
        """`conflict` is the message of the ConflictError raised on a uniqueness violation."""
        # IMMEDIATE takes the write lock up front: a deferred transaction that later wants to
        # write gets SQLITE_BUSY at once in WAL mode instead of waiting out busy_timeout.
        async with self._transaction("BEGIN IMMEDIATE", conflict) as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def _transaction(self, begin: str, conflict: str | None) -> AsyncIterator[Transaction]:
        async with self._lock:
            conn = self._connection()
            with _translated(conflict):
                await conn.execute_fetchall(begin)
                try:
                    yield Transaction(conn)
                    await conn.execute_fetchall("COMMIT")
                except BaseException:
                    await _rollback(conn)
                    raise


async def _rollback(conn: aiosqlite.Connection) -> None:
    # The original error matters more than a failing rollback; SQLite rolls back on its own
    # when the connection closes.
    with contextlib.suppress(sqlite3.Error, ValueError):
        if conn.in_transaction:
            await conn.execute_fetchall("ROLLBACK")


async def _configure(conn: aiosqlite.Connection, path: str) -> None:
    # busy_timeout first, so that switching to WAL also waits for other processes.
    await conn.execute_fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
    mode = str(rows[0][0]).lower() if rows else ""
    if mode != "wal" and path != MEMORY:
        raise StoreError(f"cannot switch {path} to WAL mode (journal_mode is {mode!r})")
    await conn.execute_fetchall("PRAGMA foreign_keys = ON")
    rows = list(await conn.execute_fetchall("PRAGMA foreign_keys"))
    if not rows or rows[0][0] != 1:
        raise StoreError("this SQLite build cannot enforce foreign keys")


def _create_private_file(path: str) -> None:
    """Create the database file 0600 before SQLite does: it holds password hashes. SQLite
    gives the -wal and -shm files the database file's mode."""
    try:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        try:
            os.fchmod(fd, 0o600)  # the umask may have taken bits away
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot create database file {path}: {exc.strerror}") from exc


@contextlib.contextmanager
def _translated(conflict: str | None = None) -> Iterator[None]:
    """Turn sqlite3 errors into the store's errors, which callers know to deny on."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        name = exc.sqlite_errorname
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            raise ConflictError(conflict or "already exists") from exc
        if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
            raise NotFoundError(
                "a referenced user, organization or project does not exist"
            ) from exc
        raise StoreError(f"constraint violated: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"database error: {exc}") from exc
