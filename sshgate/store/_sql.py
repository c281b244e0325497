"""What the store's SQL needs from a database, whichever it is.

The store's statements (`_directory.py`, `_accounts.py`, `_ledger.py`) are written once, in
the SQL both backends speak, with `?` placeholders; they run against these two protocols.
SQLite implements them in `_database.py`, PostgreSQL in `_pgdatabase.py`, each translating
its driver's errors into StoreError, ConflictError and NotFoundError.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sshgate.store._rows import Row


class Transaction(Protocol):
    """Statements that run between one BEGIN and its COMMIT."""

    async def rows(self, sql: str, *params: object) -> Sequence[Row]: ...
    async def one(self, sql: str, *params: object) -> Row | None: ...


class Database(Protocol):
    """`rows()` runs one statement on its own; `read()` gives one consistent snapshot;
    `write()` commits together and runs one writer at a time, so that a read followed by a
    write in it cannot interleave with another process's. `conflict` is the message of the
    ConflictError raised on a uniqueness violation."""

    async def rows(
        self, sql: str, *params: object, conflict: str | None = None
    ) -> Sequence[Row]: ...
    async def one(self, sql: str, *params: object) -> Row | None: ...
    def read(self) -> AbstractAsyncContextManager[Transaction]: ...
    def write(self, conflict: str | None = None) -> AbstractAsyncContextManager[Transaction]: ...
