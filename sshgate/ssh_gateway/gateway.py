"""The gateway: the listener, the shared services its connections use, and live policy.

Live policy: every open session is decided again whenever the store's policy version moves,
and closed with the message that applies once it no longer complies. The version is read
every second, and at once when the store pushes a change (PostgreSQL NOTIFY, from any
process sharing the database: see `policy_changes`). A store that does not answer the
version within its deadline for longer than STORE_OUTAGE_GRACE closes every open session:
the gateway can no longer tell which comply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import asyncssh

from sshgate import metrics
from sshgate.config import Config, split_host_port
from sshgate.logs import log
from sshgate.policy import DRAINING
from sshgate.ssh_gateway.audit import AuditTrail
from sshgate.ssh_gateway.connection import GatewayConnection
from sshgate.ssh_gateway.deadline import within
from sshgate.ssh_gateway.limits import Admission, Limits
from sshgate.ssh_gateway.policy_changes import PolicyChanges
from sshgate.ssh_gateway.refusals import RefusalAudit
from sshgate.ssh_gateway.registry import LiveChannels
from sshgate.ssh_gateway.shared_admission import SharedAdmission
from sshgate.ssh_gateway.trust import TrustedSigners
from sshgate.ssh_gateway.upstream import IdleUpstreams, UpstreamSigner
from sshgate.store import GatewayHostKey, Store, StoreError

POLICY_POLL_SECONDS = 1.0
HEARTBEAT_ROUNDS = 5  # the session registry's heartbeat, every 5 policy polls
# How long after the last policy version the store gave open sessions go on when it stops
# answering. With the store answering nothing, reads fail at the store deadline
# (deadline.STORE_DEADLINE, 3 s), so a session is closed within
# grace + poll + 2 deadlines = 6 + 1 + ... < 10 s of the outage.
STORE_OUTAGE_GRACE = 6.0
STORE_LOST = "sshgate: access cannot be checked right now; closing this session"
IDLE_SESSION = "sshgate: closing this session after {seconds} seconds without traffic"
IDLE_CONNECTION = "sshgate: closing this connection after {seconds} seconds without a session"
# After the drain message, a moment for it to reach the client before the disconnect.
DRAIN_FLUSH_SECONDS = 0.2


class Gateway:
    def __init__(
        self,
        config: Config,
        store: Store,
        host_keys: list[asyncssh.SSHKey],
        upstream_signer: UpstreamSigner,
        processes: int = 1,
        admission: SharedAdmission | None = None,
    ) -> None:
        self.config = config
        # Gateway processes listening on the same address (`gateway.workers`): this one
        # shares the socket with the others (and, through `admission`, the limits).
        self.processes = processes
        self.store = store
        self.host_keys = host_keys
        self.upstream_signer = upstream_signer
        self.trusted = TrustedSigners(
            store, config.ca.trusted_public_keys, config.ca.max_certificate_ttl
        )
        self.draining = False
        self._connections: set[GatewayConnection] = set()
        # Counted in one table by all the gateway processes of this `sshgate serve`, when
        # there are several (sshgate.ssh_gateway.shared_admission).
        self._admission: Admission | SharedAdmission = admission or Admission()
        self._server: asyncssh.SSHAcceptor | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # This process in the store's registry of open sessions, which lets
        # `org mfa-required ORG on` say how many sessions it will close.
        self.gateway_id = str(uuid.uuid4())
        self.channels = LiveChannels(store, self.gateway_id, self.spawn)
        self.audit = AuditTrail(store, self.spawn)
        self.idle_upstreams = IdleUpstreams()
        self.policy_changes = PolicyChanges(store)
        # Unauthenticated refusals: audited within a budget per source (see `refusals`).
        self.refusals = RefusalAudit(self.audit.record)

    # listener
    async def start(self) -> None:
        host, port = split_host_port(self.config.gateway.listen)
        self._server = await asyncssh.create_server(
            lambda: GatewayConnection(self),
            host,
            port,
            server_host_keys=self.host_keys,
            encoding=None,
            line_editor=False,
            allow_pty=True,
            x11_forwarding=False,
            # Per channel and per certificate: see _agent_adapter and GatewaySession.
            agent_forwarding=True,
            # The login timeout and keepalives are set per connection from the live
            # configuration (GatewayConnection.connection_made), so SIGHUP changes them.
            login_timeout=None,
            server_version="sshgate",
            # No GSSAPI: otherwise asyncssh looks up this host's FQDN for every connection,
            # on the event loop.
            gss_host=None,
            # SO_REUSEPORT: the kernel spreads new connections over the processes.
            reuse_port=True if self.processes > 1 else None,
        )
        await self.record_host_keys()
        await self._heartbeat()
        self._watcher = asyncio.get_running_loop().create_task(self._supervise())

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def reload(
        self, config: Config, host_keys: list[asyncssh.SSHKey], upstream_signer: UpstreamSigner
    ) -> None:
        """SIGHUP: new configuration and keys for new connections and sessions; open ones
        keep going. The listen address is not changed (that needs a restart)."""
        self.config = config
        self.host_keys[:] = host_keys
        self.upstream_signer = upstream_signer
        self.trusted = TrustedSigners(
            self.store, config.ca.trusted_public_keys, config.ca.max_certificate_ttl
        )
        if self._server is not None:
            # asyncssh copied the keys when the listener started; hand it the new ones.
            self._server.update(server_host_keys=list(host_keys))
        await self.record_host_keys()

    async def record_host_keys(self) -> None:
        """Publish this gateway's host public keys in the store (for GET /api/ssh/authority)."""
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
        await self.policy_changes.stop()
        self.refusals.close()
        if self._server is not None:
            self._server.close()
        reason = DRAINING if self.draining else "sshgate: the gateway is shutting down"
        for conn in list(self._connections):
            conn.close_for("draining", asyncssh.DISC_BY_APPLICATION, reason)
        if self._server is not None:
            # After the connections: from Python 3.12 this waits for them to be gone.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        self.idle_upstreams.close_all()
        with contextlib.suppress(StoreError):
            await self.store.forget_gateway(self.gateway_id)

    async def drain(self, timeout: float) -> None:
        """Stop accepting; give open sessions `timeout` seconds, then tell them and close."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + timeout
        while self.channels and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for session in self.channels.all():
            session.announce_and_close(DRAINING)
        await asyncio.sleep(DRAIN_FLUSH_SECONDS)
        await self.close()

    async def _registry(self, write: Coroutine[Any, Any, None]) -> None:
        # The registry only feeds a count shown to admins; decisions never read it.
        try:
            await write
        except StoreError as exc:
            log("session_registry_failed", error=str(exc))

    async def _heartbeat(self) -> None:
        await self._registry(self.store.gateway_heartbeat(self.gateway_id, time.time()))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # connection limits
    def limits(self) -> Limits:
        gw = self.config.gateway
        return Limits(gw.max_unauthenticated, gw.max_per_source)

    def admit(self, conn: GatewayConnection, source_known: bool = True) -> str | None:
        """Count a new connection; return the name of the limit it breaks, or None."""
        self._connections.add(conn)
        metrics.connection_accepted()
        metrics.connections_open(len(self._connections))
        source = conn.client_address if source_known else None
        refusal = self._admission.admit(conn, source, self.limits())
        return "draining" if self.draining else refusal

    def identify(self, conn: GatewayConnection) -> str | None:
        """`conn`, admitted before its PROXY header, comes from `conn.client_address`."""
        return self._admission.identify(conn, conn.client_address, self.limits())

    def authenticated(self, conn: GatewayConnection) -> None:
        self._admission.authenticated(conn)

    def release(self, conn: GatewayConnection) -> None:
        self._connections.discard(conn)
        self._admission.release(conn)
        metrics.connections_open(len(self._connections))

    # supervision: live policy (each second, and when the store pushes a change), idle timeouts
    async def _supervise(self) -> None:
        seen: int | None = None
        answered_at = time.monotonic()  # when the last version read that succeeded started
        rounds = 0
        next_round = time.monotonic() + POLICY_POLL_SECONDS
        self.policy_changes.start()
        while True:
            pushed = await self.policy_changes.wait(next_round - time.monotonic())
            now = time.monotonic()
            if now >= next_round:  # the chores keep their once-a-second pace
                next_round = now + POLICY_POLL_SECONDS
                rounds += 1
                if rounds % HEARTBEAT_ROUNDS == 0:
                    self.spawn(self._heartbeat())
                self.close_idle(now)
            asked_at = time.monotonic()
            try:
                version = await within(self.store.policy_version())
            except StoreError:
                if time.monotonic() - answered_at > STORE_OUTAGE_GRACE:
                    for session in self.channels.all():
                        session.announce_and_close(STORE_LOST)
                continue
            answered_at = asked_at
            if version != seen:
                if seen is not None:
                    log("policy_changed", version=version, via="notify" if pushed else "poll")
                    self.trusted.invalidate()  # a rotation or distrust applies at once
                seen = version
                await self.recheck_sessions()

    def close_idle(self, now: float) -> None:
        """Close sessions without traffic, and connections without a session, for
        `gateway.idle_timeout` seconds (0: never)."""
        idle = self.config.gateway.idle_timeout
        if not idle:
            return
        for session in self.channels.all():
            if session.idle_seconds(now) >= idle:
                log("session_idle", kind=session.kind.value, seconds=idle)
                metrics.limit_reached("idle-timeout")
                session.announce_and_close(IDLE_SESSION.format(seconds=idle))
        for conn in list(self._connections):
            if conn.quiet_seconds(now) >= idle:
                conn.close_for(
                    "idle-timeout",
                    asyncssh.DISC_BY_APPLICATION,
                    IDLE_CONNECTION.format(seconds=idle),
                )

    async def recheck_sessions(self) -> int:
        """The policy moved: decide every open session again, close those that no longer
        comply. Requests being decided right now see the move and decide again."""
        self.channels.policy_moved()
        return await self.channels.recheck_all()
