"""The PostgreSQL store: the SQLite store's tests again, then what only PostgreSQL has
(opening, migrations, the schema compared with SQLite's). A throw-away server runs for the
session (tests/support/postgres.py); each test starts from an emptied database.
Concurrency across processes, notifications and outages: test_store_postgres_shared.py."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

from sshgate.store import (
    AuditEvent,
    PostgresStore,
    SQLiteStore,
    StoreError,
    open_store,
)
from sshgate.store._migrations import load_migrations
from sshgate.store._pgdatabase import numbered, redacted
from tests.support.postgres import PostgresCluster
from tests.unit import (
    test_accounts_store,
    test_store_cli_grants,
    test_store_orgsecurity,
    test_store_security_keys,
    test_store_sqlite,
    test_store_totp_setup,
)

# about SQLite's file and pragmas, not the store's behaviour
SQLITE_ONLY = {"test_wal_foreign_keys_and_busy_timeout_are_on"}
STORES = {"store", "stores"}
# each SQLite suite, with its fixtures that only put data in through `store`
SUITES: list[tuple[ModuleType, tuple[str, ...]]] = [
    (test_store_sqlite, ("world",)),
    (test_accounts_store, ()),
    (test_store_orgsecurity, ("ids",)),
    (test_store_security_keys, ()),
    (test_store_cli_grants, ()),
    (test_store_totp_setup, ()),
]


def behaviour_tests(module: ModuleType, data: tuple[str, ...]) -> dict[str, Callable[..., object]]:
    """The tests of `module` that use a store through no fixture but `store`/`stores` (and
    `data`): they say what a store does, so PostgreSQL must pass them too. Tests that need
    the SQLite file (`db_path`, `tmp_path`) stay SQLite's."""
    found: dict[str, Callable[..., object]] = {}
    for name, test in vars(module).items():
        if not name.startswith("test_") or name in SQLITE_ONLY or not callable(test):
            continue
        parametrized = {
            arg.strip()
            for mark in getattr(test, "pytestmark", [])
            if mark.name == "parametrize"
            for arg in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
        }
        fixtures = set(inspect.signature(test).parameters) - parametrized
        if fixtures & STORES and fixtures <= STORES | set(data):
            found[name] = test
    return found


SHARED_TESTS: dict[str, Callable[..., object]] = {}
for _suite, _data in SUITES:
    _tests = behaviour_tests(_suite, _data)
    assert not _tests.keys() & SHARED_TESTS.keys(), "two suites share a test name"
    SHARED_TESTS.update(_tests)
    globals().update({name: getattr(_suite, name) for name in _data})
globals().update(SHARED_TESTS)  # pytest collects them here, with this module's fixtures


def test_most_store_tests_run_on_both_backends() -> None:
    assert len(SHARED_TESTS) >= 45
    assert "test_a_totp_step_is_accepted_once_across_processes" in SHARED_TESTS
    assert "test_policy_version_moves_on_every_decision_changing_mutation" in SHARED_TESTS
    assert "test_sessions_without_mfa_are_counted_per_org" in SHARED_TESTS
    for suite in (test_store_security_keys, test_store_cli_grants):  # every one of them
        assert {n for n in vars(suite) if n.startswith("test_")} <= SHARED_TESTS.keys()


@pytest.fixture
def store(postgres_store: PostgresStore) -> PostgresStore:
    return postgres_store


@pytest.fixture
def stores(postgres_stores: tuple[PostgresStore, PostgresStore]) -> tuple[PostgresStore, ...]:
    return postgres_stores


@pytest.fixture
async def fresh_url(postgres_cluster: PostgresCluster) -> str:
    """A database never opened by sshgate."""
    return await postgres_cluster.create_database()


async def query(url: str, sql: str, *params: object) -> list[asyncpg.Record]:
    """A plain connection: what is really in the database, as another process sees it."""
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *params))
    finally:
        await conn.close()


# opening and storage.url


async def test_open_store_opens_postgresql_urls(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        s = await open_store(url, "/ignored")
        try:
            assert isinstance(s, PostgresStore)
            await s.ping()
        finally:
            await s.close()


async def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    with pytest.raises(
        StoreError, match=r"cannot open postgresql://sshgate@127\.0\.0\.1:1/db"
    ) as info:
        await open_store("postgresql://sshgate:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)


async def test_a_malformed_url_is_refused_without_the_password() -> None:
    with pytest.raises(ValueError) as info:
        await open_store("postgresql://sshgate:hunter2@127.0.0.1:notaport/db")
    assert "hunter2" not in str(info.value)


async def test_url_property_hides_the_password(postgres_url: str) -> None:
    s = await PostgresStore.open(postgres_url.replace("postgres@", "postgres:pw@", 1))
    try:
        assert ":pw@" not in s.url and s.url.startswith("postgresql://postgres@127.0.0.1:")
    finally:
        await s.close()


# the SQL both stores share: `?` placeholders


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("a = ? AND b = ?", "a = $1 AND b = $2"),
        ("x = '?' AND y = ?", "x = '?' AND y = $1"),
        ("x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"),
        ('"odd?name" = ?', '"odd?name" = $1'),
        ("a = ? -- b = ?\nAND c = ?", "a = $1 -- b = ?\nAND c = $2"),
    ],
    ids=["none", "two", "in-string", "escaped-quote", "in-identifier", "in-comment"],
)
def test_placeholders_are_numbered_outside_quotes_and_comments(sql: str, expected: str) -> None:
    assert numbered(sql) == expected


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://u:secret@db.internal:5433/sshgate",
            "postgresql://u@db.internal:5433/sshgate",
        ),
        ("postgres://db/sshgate?sslmode=require&password=secret", "postgres://db/sshgate"),
        ("postgresql://u:secret@db:notaport/x", "postgresql://(unparsable URL)"),
    ],
    ids=["password", "query", "bad-port"],
)
def test_urls_in_messages_never_carry_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


# migrations

SHIPPED_VERSIONS = [m.version for m in load_migrations()]


async def test_migrations_are_applied_once(fresh_url: str) -> None:
    first = await PostgresStore.open(fresh_url)
    await first.create_user("alice", "a@example.com", "h")
    await first.close()
    sql = "SELECT version, applied_at FROM schema_migrations ORDER BY version"
    before = await query(fresh_url, sql)
    assert [r["version"] for r in before] == SHIPPED_VERSIONS

    again = await PostgresStore.open(fresh_url)
    try:
        assert await again.get_user_by_name("alice") is not None
    finally:
        await again.close()
    assert await query(fresh_url, sql) == before


async def test_stores_opened_at_once_migrate_the_database_once(fresh_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(fresh_url) for _ in range(4)))
    for s in stores:
        await s.close()
    found = await query(fresh_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in found] == SHIPPED_VERSIONS


async def test_a_newer_schema_is_refused(fresh_url: str) -> None:
    await (await PostgresStore.open(fresh_url)).close()
    await query(fresh_url, "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
    with pytest.raises(StoreError, match="newer"):
        await PostgresStore.open(fresh_url)


async def test_audit_ids_come_from_an_identity(store: PostgresStore) -> None:
    event = AuditEvent(time=1.0, kind="shell", decision="allow", reason="r")
    first, second = await store.audit(event), await store.audit(event)
    assert second > first > 0


# one schema, two databases

FAMILIES = {
    "text": "text",
    "integer": "integer",
    "bigint": "integer",
    "double precision": "real",
    "bytea": "bytes",
}
SQLITE_FAMILIES = {
    "TEXT": "text",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "DOUBLE PRECISION": "real",
    "BYTEA": "bytes",
}
Schema = dict[str, dict[str, tuple[str, bool, bool]]]  # table -> column -> (family, null, pk)


def sqlite_schema(path: Path) -> Schema:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        schema: Schema = {}
        for table in tables:
            columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
            schema[table] = {
                name: (SQLITE_FAMILIES[kind], not (notnull or pk), bool(pk))
                for _, name, kind, notnull, _, pk in columns
            }
        return schema
    finally:
        conn.close()


async def postgres_schema(url: str) -> Schema:
    columns = await query(
        url,
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable,"
        " EXISTS (SELECT 1 FROM information_schema.key_column_usage k"
        "  JOIN information_schema.table_constraints t"
        "   ON t.constraint_name = k.constraint_name AND t.table_name = k.table_name"
        "  WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name"
        "   AND k.column_name = c.column_name) AS pk"
        " FROM information_schema.columns c WHERE c.table_schema = 'public'",
    )
    schema: Schema = {}
    for r in columns:
        schema.setdefault(r["table_name"], {})[r["column_name"]] = (
            FAMILIES[r["data_type"]],
            r["is_nullable"] == "YES",
            r["pk"],
        )
    return schema


async def test_both_stores_build_the_same_tables_and_columns(
    fresh_url: str, tmp_path: Path
) -> None:
    await (await SQLiteStore.open(str(tmp_path / "s.db"))).close()
    await (await PostgresStore.open(fresh_url)).close()
    expected = sqlite_schema(tmp_path / "s.db")
    assert await postgres_schema(fresh_url) == expected
    assert {"users", "certificates", "audit", "policy_version", "login_sessions"} <= set(expected)
