"""The gateway: the listener, the shared services its connections use, and live policy.

Live policy: every open session is decided again whenever the store's policy version moves
(checked every second), and closed with the message that applies once it no longer
complies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import TYPE_CHECKING

import asyncssh

from sshgate.config import Config, split_host_port
from sshgate.logs import log
from sshgate.policy.messages import DRAINING
from sshgate.ssh_gateway.connection import GatewayConnection
from sshgate.ssh_gateway.trust import TrustedSigners
from sshgate.ssh_gateway.upstream import UpstreamSigner
from sshgate.store.base import AuditEvent, AuditOutcome, GatewayHostKey, Store, StoreError

if TYPE_CHECKING:
    from sshgate.ssh_gateway.session import GatewaySession

POLICY_POLL_SECONDS = 1.0
# An open session outlives a store outage at most this long before it is closed.
STORE_OUTAGE_GRACE = 8.0
STORE_LOST = "sshgate: access cannot be checked right now; closing this session"


class Gateway:
    def __init__(
        self,
        config: Config,
        store: Store,
        host_keys: list[asyncssh.SSHKey],
        upstream_signer: UpstreamSigner,
    ) -> None:
        self.config = config
        self.store = store
        self.host_keys = host_keys
        self.upstream_signer = upstream_signer
        self.trusted = TrustedSigners(
            store, config.ca.trusted_public_keys, config.ca.max_certificate_ttl
        )
        self.sessions: set[GatewaySession] = set()
        self.draining = False
        self._connections: set[GatewayConnection] = set()
        self._unauthenticated: set[GatewayConnection] = set()
        self._per_source: Counter[str] = Counter()
        self._server: asyncssh.SSHAcceptor | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # listener
    async def start(self) -> None:
        host, port = split_host_port(self.config.gateway.listen)
        gw = self.config.gateway
        self._server = await asyncssh.create_server(
            lambda: GatewayConnection(self),
            host,
            port,
            server_host_keys=self.host_keys,
            encoding=None,
            line_editor=False,
            allow_pty=True,
            x11_forwarding=False,
            agent_forwarding=False,
            login_timeout=gw.login_timeout or None,
            keepalive_interval=60,
            server_version="sshgate",
        )
        await self._record_host_keys()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_policy())

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _record_host_keys(self) -> None:
        for key in self.host_keys:
            public = key.export_public_key("openssh").decode().strip()
            await self.store.record_gateway_host_key(
                GatewayHostKey(
                    public_key=" ".join(public.split()[:2]),
                    public_host=self.config.gateway_public_host,
                    public_port=self.config.gateway.public_port or self.port,
                    recorded_at=time.time(),
                )
            )

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for conn in list(self._connections):
            conn_obj = conn._conn
            if conn_obj is not None:
                conn_obj.close()

    async def drain(self, timeout: float) -> None:
        """Stop accepting; give open sessions `timeout` seconds, then tell them and close."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + timeout
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for session in list(self.sessions):
            session.announce_and_close(DRAINING)
        await asyncio.sleep(0.2)
        await self.close()

    # connection limits
    def admit(self, conn: GatewayConnection) -> bool:
        gw = self.config.gateway
        self._connections.add(conn)
        self._unauthenticated.add(conn)
        self._per_source[conn.client_address] += 1
        if self.draining:
            return False
        if len(self._unauthenticated) > gw.max_unauthenticated:
            log("connection_refused", reason="max-unauthenticated", client=conn.client_address)
            return False
        if self._per_source[conn.client_address] > gw.max_per_source:
            log("connection_refused", reason="max-per-source", client=conn.client_address)
            return False
        return True

    def authenticated(self, conn: GatewayConnection) -> None:
        self._unauthenticated.discard(conn)

    def release(self, conn: GatewayConnection) -> None:
        if conn in self._connections:
            self._connections.discard(conn)
            self._unauthenticated.discard(conn)
            self._per_source[conn.client_address] -= 1
            if self._per_source[conn.client_address] <= 0:
                del self._per_source[conn.client_address]

    # audit
    async def write_audit(self, event: AuditEvent) -> int | None:
        try:
            return await self.store.audit(event)
        except StoreError as exc:
            log("audit_write_failed", error=str(exc))
            return None

    def write_outcome(self, audit_id: int, outcome: AuditOutcome) -> None:
        task = asyncio.get_running_loop().create_task(self._write_outcome(audit_id, outcome))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_outcome(self, audit_id: int, outcome: AuditOutcome) -> None:
        try:
            await self.store.audit_outcome(audit_id, outcome)
        except StoreError as exc:
            log("audit_write_failed", error=str(exc))

    # live policy
    async def _watch_policy(self) -> None:
        seen: int | None = None
        failing_since: float | None = None
        while True:
            await asyncio.sleep(POLICY_POLL_SECONDS)
            try:
                version = await self.store.policy_version()
                failing_since = None
            except StoreError:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > STORE_OUTAGE_GRACE:
                    for session in list(self.sessions):
                        session.announce_and_close(STORE_LOST)
                continue
            if version != seen:
                seen = version
                await self.recheck_sessions()

    async def recheck_sessions(self) -> int:
        """Decide every open session again; close those that no longer comply."""
        closed = 0
        for session in list(self.sessions):
            if session.kind is None:
                continue
            try:
                decision, _ = await session.connection.decide(session.kind)
            except StoreError:
                continue
            if not decision.allowed:
                await session.connection.audit(
                    AuditEvent(time.time(), session.kind.value, "close", decision.rule)
                )
                session.terminate(decision)
                closed += 1
        return closed
