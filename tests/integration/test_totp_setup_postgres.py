"""The authenticator-app setup stories of tests/unit/test_totp_setup.py on PostgreSQL: the
same SQL, two stores with a pool each standing for two processes."""

from __future__ import annotations

import pytest

from sshgate.store import PostgresStore
from tests.unit.test_totp_setup import STORIES, Story


@pytest.mark.parametrize("story", STORIES, ids=lambda s: s.__name__)
async def test_totp_setup_store_on_postgres(
    story: Story, postgres_stores: tuple[PostgresStore, PostgresStore]
) -> None:
    await story(*postgres_stores)
