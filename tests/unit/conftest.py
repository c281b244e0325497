"""Fixtures the unit tests share: a fresh SQLite store in a temporary folder, and two stores on
one file (two sshgate processes on one database). tests/integration/test_store_postgres.py
gives the same names to PostgreSQL stores (two pools for `stores`) and runs the store tests
again there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sshgate.store.sqlite import SQLiteStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sshgate.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore.open(str(db_path))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def stores(db_path: Path) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    a = await SQLiteStore.open(str(db_path))
    b = await SQLiteStore.open(str(db_path))
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
