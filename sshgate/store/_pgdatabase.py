"""A pool of PostgreSQL connections, speaking the store's SQL (`_sql.Database`).

The shared statements use SQLite's `?` placeholders; they are rewritten to `$1..$n` once
per statement text. Transactions mirror the SQLite store's: `read()` is one REPEATABLE READ
snapshot; `write()` takes one transaction-scoped advisory lock first, as SQLite's BEGIN
IMMEDIATE takes the file's write lock, so that a read followed by a write in it (an
environment's machine name, a CA key's retirement, a reminder's claim) cannot interleave
with another process's. Single statements (`rows()`) run on their own, unlocked: the
compare-and-set updates in `_accounts.py` are atomic as one statement.

Every failure reaches the caller as StoreError (unreachable, timed out, closed), and its
message never holds the URL's password.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from urllib.parse import urlsplit

import asyncpg

from sshgate.store.base import ConflictError, NotFoundError, StoreError

# Seconds: connecting, waiting for a free pooled connection, and any one statement. A
# database that does not answer within these is as good as down: callers deny.
CONNECT_TIMEOUT = 5.0
ACQUIRE_TIMEOUT = 10.0
COMMAND_TIMEOUT = 15.0
CLOSE_TIMEOUT = 5.0
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
# How sshgate's connections show in pg_stat_activity.
APPLICATION_NAME = "sshgate"

# pg_advisory_xact_lock keys (any bigint; these spell "sshgate" and a purpose).
WRITE_LOCK = 0x7373_6867_6174_6501
MIGRATION_LOCK = 0x7373_6867_6174_6502


def redacted(url: str) -> str:
    """The URL as it may appear in a message: scheme, user, host, port and database."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://(unparsable URL)"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1..$n`, leaving quoted text and comments alone."""
    out: list[str] = []
    n = 0
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            end = len(sql) if end < 0 else end + 1
            out.append(sql[i:end])
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@contextlib.contextmanager
def translated(conflict: str | None = None) -> Iterator[None]:
    """Turn asyncpg's and the network's errors into the store's, which callers deny on."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(conflict or "already exists") from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFoundError("a referenced user, organization or project does not exist") from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise StoreError(f"constraint violated: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"database error: {type(exc).__name__}: {exc}") from exc
    except asyncpg.exceptions.DataError as exc:
        # asyncpg's own check of a parameter; its message would repeat the value.
        raise ValueError("a value does not fit its database column") from exc
    except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
        # TimeoutError is an OSError; InternalClientError comes of a connection the server
        # ended while it sat in the pool.
        raise StoreError(f"database unreachable: {type(exc).__name__}: {exc}") from exc


class PgTransaction:
    """Statements on one connection, inside one transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, *params: object) -> Sequence[asyncpg.Record]:
        return await self._conn.fetch(numbered(sql), *params)  # type: ignore[no-any-return]

    async def one(self, sql: str, *params: object) -> asyncpg.Record | None:
        found = await self.rows(sql, *params)
        return found[0] if found else None


class PgDatabase:
    """The pool. Open with `await PgDatabase.open(url)`; callers migrate first."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool: asyncpg.Pool | None = pool
        self.url = url

    @classmethod
    async def open(cls, url: str) -> PgDatabase:
        try:
            with translated():
                pool = await _create_pool(url)
        except StoreError as exc:
            raise StoreError(f"cannot open {redacted(url)}: {exc}") from exc.__cause__
        return cls(pool, url)

    async def connect(self, purpose: str) -> asyncpg.Connection:
        """A connection of its own, outside the pool (migrations, LISTEN); `purpose` names it
        in pg_stat_activity (application_name `sshgate-PURPOSE`)."""
        self._live()
        with translated():
            return await asyncpg.connect(
                self.url,
                timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": f"{APPLICATION_NAME}-{purpose}"},
            )

    async def close(self) -> None:
        """Close the pool, waiting CLOSE_TIMEOUT at most for statements still running."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()

    def _live(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is closed")
        return self._pool

    async def rows(
        self, sql: str, *params: object, conflict: str | None = None
    ) -> Sequence[asyncpg.Record]:
        pool = self._live()
        with translated(conflict):
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                return await conn.fetch(numbered(sql), *params)  # type: ignore[no-any-return]

    async def one(self, sql: str, *params: object) -> asyncpg.Record | None:
        found = await self.rows(sql, *params)
        return found[0] if found else None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[PgTransaction]:
        async with self._transaction(None, isolation="repeatable_read", readonly=True) as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def write(self, conflict: str | None = None) -> AsyncIterator[PgTransaction]:
        async with self._transaction(conflict, isolation="read_committed", readonly=False) as tx:
            await tx.rows("SELECT pg_advisory_xact_lock(?)", WRITE_LOCK)
            yield tx

    @contextlib.asynccontextmanager
    async def _transaction(
        self, conflict: str | None, isolation: str, readonly: bool
    ) -> AsyncIterator[PgTransaction]:
        pool = self._live()
        with translated(conflict):
            async with (
                pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn,
                conn.transaction(isolation=isolation, readonly=readonly),
            ):
                yield PgTransaction(conn)


async def _create_pool(url: str) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            url,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings={"application_name": APPLICATION_NAME},
        )
    except ValueError:  # asyncpg's parse of the URL, whose message may repeat the password
        raise ValueError(f"storage.url is not a usable PostgreSQL URL: {redacted(url)}") from None
