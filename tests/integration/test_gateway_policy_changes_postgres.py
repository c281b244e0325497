"""PolicyChanges over a real PostgreSQL (LISTEN/NOTIFY): a change committed by another
process wakes the gateway's supervision within a second."""

from __future__ import annotations

import time

from sshgate.ssh_gateway.policy_changes import PolicyChanges
from sshgate.store import PostgresStore


async def test_a_change_committed_by_another_process_wakes_the_gateway_within_a_second(
    postgres_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    gateway_store, api_store = postgres_stores
    await api_store.create_org("acme")
    changes = PolicyChanges(gateway_store)
    changes.start()
    try:
        assert await changes.wait(5) is True  # listening started: the current version
        started = time.monotonic()
        await api_store.set_mfa_required("acme", True)
        assert await changes.wait(5) is True
        assert time.monotonic() - started < 1.0
    finally:
        await changes.stop()
