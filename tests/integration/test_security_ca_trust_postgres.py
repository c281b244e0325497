"""The store's distrust, per-CA serial and key ID revocations on PostgreSQL, and a distrust
through another process reaching a gateway's trust within a second (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sshgate.ca.keys import fingerprint
from sshgate.ssh_gateway.policy_changes import PolicyChanges
from sshgate.ssh_gateway.trust import TrustedSigners
from sshgate.store import PostgresStore
from tests.unit.test_security_ca_trust import _ledger_revocations

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


async def test_per_ca_serials_key_ids_and_distrust_are_stored_on_postgresql(
    postgres_store: PostgresStore,
) -> None:
    await _ledger_revocations(postgres_store)


async def test_a_distrust_through_another_process_reaches_a_gateways_trust_within_a_second(
    postgres_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    gateway_store, cli_store = postgres_stores
    line = (VECTORS / "own_ca.pub").read_text().strip()
    await cli_store.record_ca_key(fingerprint(line), line, time.time())
    trusted = TrustedSigners(gateway_store, [], 86400)
    changes = PolicyChanges(gateway_store)
    changes.start()
    try:
        assert fingerprint(line) in (await trusted.current()).trusted
        await asyncio.sleep(0.2)  # listening
        started = time.monotonic()
        await cli_store.distrust_ca_key(fingerprint(line), time.time())
        # What the gateway's supervision does when the store pushes a change.
        assert await changes.wait(1.0)
        trusted.invalidate()
        assert fingerprint(line) not in (await trusted.current()).trusted
        assert time.monotonic() - started < 1.0
    finally:
        await changes.stop()
