"""The one path every request of an authenticated connection takes.

decide (on the live store) -> audit -> refuse when the audit record could not be written
-> track the channel for live re-checks -> allow. Sessions (shell, exec, subsystem, the
git commands), port forwards, agent forwards (asked for by the client, and each agent
channel the environment opens) and the live re-check of an open channel all go through
`Pipeline`; nothing else in the gateway calls `decide()`.

No window for live policy: the user and the certificate's ledger entry are read from the
store for every decision (never from what authentication read), and the registry's policy
epoch is noted before the first await. When the policy moved while a request was being
decided, it is decided again before it is allowed; once tracked, every later move re-checks
it. Every store call has a deadline (`deadline.within`): a store that does not answer is a
store that is unavailable, and the request is refused.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from sshgate.logs import log
from sshgate.policy import Decision, GatewaySettings, Identity, RequestKind, Target, decide
from sshgate.ssh_gateway.access import refresh_identity, resolve_target
from sshgate.ssh_gateway.audit import AuditTrail
from sshgate.ssh_gateway.deadline import within
from sshgate.ssh_gateway.registry import LiveChannel, LiveChannels
from sshgate.store import AuditEvent, AuditOutcome, Store, StoreError

STORE_UNAVAILABLE = "sshgate: access cannot be checked right now; try again later"
STORE_UNAVAILABLE_RULE = "store-unavailable"
# The rule an allowed request is refused under when its audit record could not be written.
UNAUDITED = "audit-unavailable"


@dataclass(frozen=True)
class Request:
    """One request of a connection, as the pipeline decides it.

    `detail`: what the audit record says besides the kind (the exec command, the forward's
    destination). `narrow`: a further pure rule of this request kind on top of the policy
    decision (a port forward reaches only the environment's loopback)."""

    kind: RequestKind
    detail: str | None = None
    narrow: Callable[[Decision, Target], Decision] | None = None


@dataclass(frozen=True)
class Allowed:
    target: Target
    audit_id: int


@dataclass(frozen=True)
class Refused:
    rule: str
    lines: tuple[str, ...]
    exit_status: int = 1


@dataclass(frozen=True)
class Who:
    """What the connection knows of the client, fixed once it authenticated."""

    requested: str  # the SSH user name: the service or the project
    client_address: str


class Pipeline:
    """The requests of one authenticated connection."""

    def __init__(
        self,
        who: Who,
        identity: Identity,
        store: Store,
        audit: AuditTrail,
        channels: LiveChannels,
        settings: Callable[[], GatewaySettings],
        standing: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.who = who
        self.identity = identity
        self._store = store
        self._audit = audit
        self._channels = channels
        self._settings = settings
        # Whether the certificate still stands (signer trusted, not revoked outside the
        # ledger too): see `certgather.certificate_stands`.
        self._standing = standing

    async def decide(self, kind: RequestKind) -> tuple[Decision, Target]:
        """Decide on the store as it is now: the user, the ledger entry, the org, the grants.
        Raises StoreError when the store cannot answer within its deadline."""
        store = self._store
        self.identity = await within(refresh_identity(store, self.identity))
        if self._standing is not None and not await within(self._standing()):
            self.identity = replace(self.identity, revoked=True)
        user_id = self.identity.user.id
        target = await within(resolve_target(store, self.who.requested, user_id))
        return decide(self.identity, kind, target, self._settings()), target

    async def admit(self, request: Request, channel: LiveChannel | None) -> Allowed | Refused:
        """Decide, audit and (for a relayed channel) track one request."""
        epoch = self._channels.epoch  # before the first await
        try:
            decision, target = await self._decide(request)
        except StoreError:
            self._audit.note(self._event(request, "deny", STORE_UNAVAILABLE_RULE))
            return Refused(STORE_UNAVAILABLE_RULE, (STORE_UNAVAILABLE,))
        audit_id = await self.audit(request, "allow" if decision.allowed else "deny", decision.rule)
        if not decision.allowed:
            return Refused(decision.rule, decision.lines, decision.exit_status)
        if audit_id is None:
            log("denied_unaudited", service=self.who.requested, kind=request.kind.value)
            return Refused(UNAUDITED, (STORE_UNAVAILABLE,))
        while self._channels.epoch != epoch:
            # The policy moved while this was decided: what it is now decides.
            epoch = self._channels.epoch
            try:
                decision, target = await self._decide(request)
            except StoreError:
                decision = Decision(False, STORE_UNAVAILABLE_RULE, (STORE_UNAVAILABLE,), 1)
            if not decision.allowed:
                await self.audit(request, "close", decision.rule)
                self.ended(request.kind, audit_id, AuditOutcome(0, 0, decision.exit_status, 0))
                return Refused(decision.rule, decision.lines, decision.exit_status)
        if channel is not None and not channel.ended:
            # An ended channel is never tracked: nothing would untrack it.
            self._channels.track(channel, self, self.identity, target)
        return Allowed(target, audit_id)

    async def recheck(self, channel: LiveChannel) -> bool:
        """The live re-check of an open channel: closed, and audited, once it no longer
        complies. A store that cannot answer closes nothing here (see the gateway's grace)."""
        try:
            decision, _ = await self.decide(channel.kind)
        except StoreError:
            return False
        if decision.allowed or channel not in self._channels:
            return False
        await self.audit(Request(channel.kind), "close", decision.rule)
        channel.terminate(decision)
        return True

    def release(self, channel: LiveChannel) -> None:
        self._channels.untrack(channel)

    async def _decide(self, request: Request) -> tuple[Decision, Target]:
        decision, target = await self.decide(request.kind)
        if request.narrow is not None:
            decision = request.narrow(decision, target)
        return decision, target

    async def audit(self, request: Request, decision: str, rule: str) -> int | None:
        return await self._audit.record(self._event(request, decision, rule))

    def _event(self, request: Request, decision: str, rule: str) -> AuditEvent:
        return AuditEvent(
            time=time.time(),
            kind=request.kind.value,
            decision=decision,
            reason=rule,
            user_id=self.identity.user.id,
            serial=self.identity.serial,
            client=self.who.client_address,
            service=self.who.requested,
            detail=request.detail[:256] if request.detail else None,
        )

    def ended(self, kind: RequestKind, audit_id: int | None, outcome: AuditOutcome) -> None:
        """One log line and the audit outcome for a session or forward that ended."""
        log(
            "session_end",
            kind=kind.value,
            user_id=self.identity.user.id,
            serial=self.identity.serial,
            client=self.who.client_address,
            service=self.who.requested,
            bytes_in=outcome.bytes_in,
            bytes_out=outcome.bytes_out,
            exit_status=outcome.exit_status,
            duration=round(outcome.duration, 3),
        )
        if audit_id is not None:
            self._audit.outcome(audit_id, outcome)


__all__ = [
    "STORE_UNAVAILABLE",
    "STORE_UNAVAILABLE_RULE",
    "UNAUDITED",
    "Allowed",
    "Pipeline",
    "Refused",
    "Request",
    "Who",
]
