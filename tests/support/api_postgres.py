"""API tests again over PostgreSQL: a module under tests/integration/ names API tests of a
tests/api/ module and gets them, unchanged, with a `site` over the session's PostgreSQL
database (emptied for each test) instead of a SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import ModuleType

import pytest

from sshgate.store import PostgresStore
from tests.api.conftest import Site, open_site


def named_tests(module: ModuleType, names: Iterable[str]) -> dict[str, object]:
    """The named tests of `module` (a missing name stops the collection)."""
    found = {name: getattr(module, name) for name in names}
    assert all(name.startswith("test_") for name in found)
    return found


@pytest.fixture
async def site(postgres_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with open_site(tmp_path, await PostgresStore.open(postgres_url)) as s:
        yield s
