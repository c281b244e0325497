"""The gateway's audit trail: one log line, one metric and one store record per decision,
and the outcome of what was allowed once it ends.

A record that cannot be written within the store deadline comes back as None; the request
pipeline refuses an allowed request then (every allowed request leaves a record).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from sshgate import metrics
from sshgate.logs import log
from sshgate.ssh_gateway.deadline import within
from sshgate.store import AuditEvent, AuditOutcome, Store, StoreError

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class AuditTrail:
    def __init__(self, store: Store, spawn: Spawn) -> None:
        self._store = store
        self._spawn = spawn

    async def record(self, event: AuditEvent) -> int | None:
        """Log, count and store one decision; its record id, or None when it was not written."""
        self.note(event)
        return await self._insert(event)

    async def _insert(self, event: AuditEvent) -> int | None:
        try:
            return await within(self._store.audit(event))
        except StoreError as exc:
            log("audit_write_failed", error=str(exc))
            return None

    def note(self, event: AuditEvent) -> None:
        """Log and count a decision without storing it: for a refusal because the store did
        not answer, whose record would only wait out the same deadline again."""
        log(
            "decision",
            decision=event.decision,
            rule=event.reason,
            kind=event.kind,
            user_id=event.user_id,
            serial=event.serial,
            client=event.client,
            service=event.service,
        )
        if event.kind == "auth":
            metrics.auth_refused(event.reason)
        else:
            metrics.decision(event.kind, event.decision, event.reason)

    def outcome(self, audit_id: int, outcome: AuditOutcome) -> None:
        """Record, in the background, what an allowed request carried until it ended."""
        self._spawn(self._write_outcome(audit_id, outcome))

    async def _write_outcome(self, audit_id: int, outcome: AuditOutcome) -> None:
        try:
            await self._store.audit_outcome(audit_id, outcome)
        except StoreError as exc:
            log("audit_write_failed", error=str(exc))


__all__ = ["AuditTrail", "Spawn"]
