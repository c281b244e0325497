"""Versioned schema migrations: numbered SQL files under migrations/, applied once, in order.

The files are shared with the PostgreSQL store, so this module finds and splits them and
says which are pending; each store applies them inside one transaction (SQLite here, in
`apply_sqlite_migrations`; PostgreSQL in `_pgmigrations.py`, under an advisory lock), so
that processes starting together on the same database neither race nor see half a schema.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

import aiosqlite

from sshgate.store.base import StoreError

_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every migration shipped with sshgate, by ascending version."""
    folder = resources.files("sshgate.store").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations with version {version}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def sql_statements(script: str) -> Iterator[str]:
    """Split a script into statements. sqlite3's executescript would commit the open
    transaction first, so each statement is run on its own; complete_statement knows about
    quotes, comments and trigger bodies, which a split on ';' does not."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            pending = ""
            if statement.rstrip(";").strip():
                yield statement
    if pending.strip() and not _only_comments(pending):
        raise ValueError("migration ends with an incomplete statement")


def pending(applied: set[int], migrations: list[Migration]) -> list[Migration]:
    """The migrations a database with schema versions `applied` lacks, in order.

    Refuses a database whose schema is newer than this program: running old code on it
    could silently ignore rules (columns, tables) that the newer version relies on.
    """
    known = max((m.version for m in migrations), default=0)
    if applied and max(applied) > known:
        raise StoreError(
            f"the database schema (version {max(applied)}) is newer than this sshgate "
            f"supports (version {known}); upgrade sshgate"
        )
    return [m for m in migrations if m.version not in applied]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


async def apply_sqlite_migrations(
    conn: aiosqlite.Connection, now: float, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply the migrations this database lacks; returns the versions applied now.
    Raises StoreError for a schema newer than this program (see `pending`)."""
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute_fetchall("BEGIN IMMEDIATE")
    try:
        await conn.execute_fetchall(CREATE_TABLE)
        rows = await conn.execute_fetchall("SELECT version FROM schema_migrations")
        done: list[int] = []
        for migration in pending({int(row[0]) for row in rows}, migrations):
            for statement in sql_statements(migration.sql):
                await conn.execute_fetchall(statement)
            await conn.execute_fetchall(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (migration.version, now),
            )
            done.append(migration.version)
        await conn.execute_fetchall("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.execute_fetchall("ROLLBACK")
        raise
    return done
