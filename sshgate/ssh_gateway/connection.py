"""One client connection: certificate authentication, then a session per channel.

Authentication accepts only a user certificate that passes every named check in
`certcheck`; plain keys, passwords and keyboard-interactive are not offered. Once
authenticated, the connection's requests go through its `pipeline.Pipeline`, and its
sessions and tunnels see only a `context.ChannelContext`, never this object.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import replace
from typing import Any, Protocol

import asyncssh
from asyncssh.public_key import decode_ssh_public_key

from sshgate import metrics
from sshgate.ca import CertificateFormatError, PresentedCertificate, parse_certificate
from sshgate.config import Config
from sshgate.logs import log
from sshgate.policy import EXPIRED_BANNER, REVOKED_BANNER, Endpoint, GatewaySettings, Identity
from sshgate.ssh_gateway._agent_adapter import watch_agent_requests
from sshgate.ssh_gateway._auth_adapter import take_over_public_key_auth
from sshgate.ssh_gateway._packet_economy import economize
from sshgate.ssh_gateway.audit import AuditTrail
from sshgate.ssh_gateway.certcheck import (
    PERMIT_AGENT_FORWARDING,
    PERMIT_PORT_FORWARDING,
    Verdict,
    permissions,
)
from sshgate.ssh_gateway.certgather import (
    certificate_stands,
    judge_certificate,
    unverified_detail,
)
from sshgate.ssh_gateway.context import Activity, ChannelContext
from sshgate.ssh_gateway.deadline import within
from sshgate.ssh_gateway.forwarding import open_tunnel
from sshgate.ssh_gateway.limits import KEEPALIVE_COUNT_MAX, keepalive_interval
from sshgate.ssh_gateway.pipeline import STORE_UNAVAILABLE, Pipeline, Who
from sshgate.ssh_gateway.proxy_protocol import expect_proxy_header, plain_address
from sshgate.ssh_gateway.refusals import RATE_LIMITED, RefusalAudit
from sshgate.ssh_gateway.registry import LiveChannels
from sshgate.ssh_gateway.session import GatewaySession
from sshgate.ssh_gateway.trust import TrustedSigners
from sshgate.ssh_gateway.upstream import (
    IdleUpstreams,
    UpstreamIdentity,
    UpstreamPool,
    UpstreamSigner,
)
from sshgate.store import AuditEvent, Store, StoreError

# How long what the store said about a certificate's user and ledger entry is reused within
# one connection's authentication (between OpenSSH's key query and its signed attempt).
# Requests never reuse it: the pipeline reads the store for every decision.
FRESH_SECONDS = 1.0
CheckResult = tuple[Verdict, PresentedCertificate | None, Identity | None]


def _is_certificate_blob(blob: bytes) -> bool:
    length = int.from_bytes(blob[:4], "big")
    return blob[4 : 4 + length].endswith(b"-cert-v01@openssh.com")


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _banner(verdict: Verdict, cert: PresentedCertificate | None) -> str | None:
    """The line a refused client sees before `Permission denied`, where one helps."""
    if verdict.rule == "store-unavailable":  # fail closed, but say it is not the user's fault
        return STORE_UNAVAILABLE
    if verdict.banner_rule is None or cert is None:
        return None
    if verdict.rule == "expired":
        return EXPIRED_BANNER.format(when=_iso(cert.valid_before))
    return REVOKED_BANNER


TOO_MANY_CONNECTIONS = "sshgate: too many connections; try again later"
LOGIN_TIMEOUT = "sshgate: login timeout"
TOO_MANY_AUTH_FAILURES = "too many authentication failures"


class Host(Protocol):
    """What a connection uses of its gateway (`gateway.Gateway`)."""

    config: Config
    store: Store
    trusted: TrustedSigners
    upstream_signer: UpstreamSigner
    idle_upstreams: IdleUpstreams
    draining: bool
    channels: LiveChannels
    audit: AuditTrail
    refusals: RefusalAudit

    def admit(self, conn: GatewayConnection, source_known: bool = True) -> str | None: ...

    def identify(self, conn: GatewayConnection) -> str | None: ...

    def authenticated(self, conn: GatewayConnection) -> None: ...

    def release(self, conn: GatewayConnection) -> None: ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> None: ...


class GatewayConnection(asyncssh.SSHServer):
    def __init__(self, gateway: Host) -> None:
        self.gateway = gateway
        self.requested = ""
        self.client_address = ""
        self.identity: Identity | None = None
        self.context: ChannelContext | None = None
        self._candidate: tuple[PresentedCertificate, Identity] | None = None
        self._checked: dict[bytes, tuple[float, CheckResult]] = {}
        self._conn: asyncssh.SSHServerConnection | None = None
        self._failures = 0
        self._banner_sent = False
        self.upstreams = UpstreamPool(
            self._upstream_identity, lambda: gateway.upstream_signer, gateway.idle_upstreams
        )
        self._denied_blobs: set[bytes] = set()
        self._login_timer: asyncio.TimerHandle | None = None
        self.activity = Activity()

    # lifecycle
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        economize(conn)
        peer = conn.get_extra_info("peername")
        self.client_address = plain_address(str(peer[0])) if peer else ""
        take_over_public_key_auth(conn, self._validate)
        gw = self.gateway.config.gateway
        if gw.proxy_protocol:
            # Behind a load balancer: admitted once its PROXY header names the client.
            # It counts from now on, in the total only until the header names its client.
            expect_proxy_header(conn, gw.proxy_protocol_trusted, self._proxied)
            self._admit(source_known=False)
            return
        self._admit()

    def _proxied(self, client_address: str) -> None:
        self.client_address = client_address
        refusal = self.gateway.identify(self)
        if refusal is not None:
            self._refuse(refusal)

    def _admit(self, source_known: bool = True) -> None:
        """Count the connection against the limits and start its login timer."""
        gw = self.gateway.config.gateway
        refusal = self.gateway.admit(self, source_known)
        if refusal is not None:
            self._refuse(refusal)
            return
        if gw.login_timeout:
            # The gateway's own timer rather than asyncssh's login_timeout, so that a
            # SIGHUP'd configuration applies to the next connection.
            loop = asyncio.get_running_loop()
            self._login_timer = loop.call_later(gw.login_timeout, self._login_expired)

    def _refuse(self, limit: str) -> None:
        # asyncssh sends its version line after this returns; a disconnect before it would
        # reach the client as a garbled banner instead of a readable reason.
        asyncio.get_running_loop().call_soon(
            self.close_for, limit, asyncssh.DISC_TOO_MANY_CONNECTIONS, TOO_MANY_CONNECTIONS
        )

    def _login_expired(self) -> None:
        if self.identity is None:
            self.close_for("login-timeout", asyncssh.DISC_CONNECTION_LOST, LOGIN_TIMEOUT)

    def close_for(self, reason: str, code: int, message: str) -> None:
        """Close the connection because of a limit; `reason` names it in logs and metrics."""
        log("connection_closed", reason=reason, client=self.client_address)
        metrics.limit_reached(reason)
        if self._conn is not None:
            self._conn.disconnect(code, message)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._login_timer is not None:
            self._login_timer.cancel()
        self.gateway.release(self)
        self.upstreams.close()

    def _upstream_identity(self, endpoint: Endpoint) -> UpstreamIdentity:
        if self.context is None:
            raise RuntimeError("an upstream connection before authentication")
        user = self.context.pipeline.identity.user
        return UpstreamIdentity(endpoint.user, user.id, user.username)

    def quiet_seconds(self, now: float) -> float:
        """How long an authenticated connection has carried no channel at all (else 0)."""
        if self.identity is None:
            return 0.0
        return self.activity.quiet_seconds(now)

    # authentication
    def begin_auth(self, username: str) -> bool:
        self.requested = username
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def auth_completed(self) -> None:
        if self._login_timer is not None:
            self._login_timer.cancel()
        if self._conn is not None:
            # A client that vanished without closing TCP (a suspended laptop, a NAT that
            # forgot it) is let go after a few unanswered probes, about as soon as an idle
            # one. Set here: asyncssh re-reads its own options once the user name is known.
            idle = self.gateway.config.gateway.idle_timeout
            self._conn.set_keepalive(keepalive_interval(idle), KEEPALIVE_COUNT_MAX)
        if self._candidate is not None:
            cert, identity = self._candidate
            self.identity = identity
            gateway = self.gateway
            pipeline = Pipeline(
                Who(self.requested, self.client_address),
                identity,
                gateway.store,
                gateway.audit,
                gateway.channels,
                lambda: GatewaySettings(gateway.config.gateway.allow_port_forwarding),
                lambda: certificate_stands(
                    cert, gateway.store, gateway.trusted, gateway.config.ca.max_certificate_ttl
                ),
            )
            self.context = ChannelContext(
                pipeline,
                self.upstreams,
                dict(permissions(cert)),
                lambda: gateway.config.gateway.env_allowlist,
                self.activity,
            )
            self.activity.restart()
            self.gateway.authenticated(self)
            log(
                "authenticated",
                user=self.identity.user.username,
                user_id=self.identity.user.id,
                serial=self.identity.serial,
                client=self.client_address,
                service=self.requested,
            )

    async def _validate(self, username: str, blob: bytes, signed: bool) -> asyncssh.SSHKey | None:
        if self.gateway.refusals.may_check(self.client_address):
            verdict, cert, identity = await self._check(blob)
        else:  # this source had too many keys refused just now: not even parsed
            verdict, cert, identity = Verdict(False, RATE_LIMITED), None, None
        if not verdict.ok or cert is None or identity is None:
            self._failures += 1
            await self._refused(verdict, cert, blob)
            if self._failures >= self.gateway.config.gateway.max_auth_attempts:
                self.close_for(
                    "max-auth-attempts",
                    asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                    TOO_MANY_AUTH_FAILURES,
                )
            return None
        try:
            key = decode_ssh_public_key(cert.subject_key_blob)
        except (asyncssh.KeyImportError, ValueError):
            await self._refused(Verdict(False, "malformed"), cert, blob)
            return None
        if signed:
            self._candidate = (cert, identity)
        return key

    async def _check(
        self, blob: bytes
    ) -> tuple[Verdict, PresentedCertificate | None, Identity | None]:
        # OpenSSH first asks whether a key would do, then signs: one lookup serves both.
        cached = self._checked.get(blob)
        if cached is not None and time.monotonic() - cached[0] < FRESH_SECONDS:
            return cached[1]
        result = await self._check_now(blob)
        self._checked = {blob: (time.monotonic(), result)}
        return result

    async def _check_now(
        self, blob: bytes
    ) -> tuple[Verdict, PresentedCertificate | None, Identity | None]:
        if not _is_certificate_blob(blob):
            return Verdict(False, "not-a-certificate"), None, None
        try:
            cert = parse_certificate(blob)
        except CertificateFormatError:
            return Verdict(False, "malformed"), None, None
        try:
            verdict, facts = await within(
                judge_certificate(
                    cert,
                    self.gateway.store,
                    self.gateway.trusted,
                    self.client_address,
                    self.gateway.config.ca.max_certificate_ttl,
                )
            )
        except StoreError:
            return Verdict(False, "store-unavailable"), cert, None
        user = facts.user if facts is not None else None
        if not verdict.ok or user is None or verdict.claims is None:
            return verdict, cert, None
        perms = permissions(cert)
        identity = Identity(
            user=user,
            serial=cert.serial,
            amr=verdict.claims.amr,
            auth_time=verdict.claims.auth_time,
            permit_port_forwarding=perms[PERMIT_PORT_FORWARDING],
            permit_agent_forwarding=perms[PERMIT_AGENT_FORWARDING],
        )
        return verdict, cert, identity

    async def _refused(
        self, verdict: Verdict, cert: PresentedCertificate | None, blob: bytes
    ) -> None:
        text = _banner(verdict, cert)
        if text is not None and not self._banner_sent and self._conn:
            try:
                self._conn.send_auth_banner(text + "\r\n")
                self._banner_sent = True
            except OSError:
                pass
        if blob in self._denied_blobs:
            return
        self._denied_blobs.add(blob)
        event = self._located(
            AuditEvent(
                time=time.time(),
                kind="auth",
                decision="deny",
                reason=verdict.rule,
                serial=cert.serial if cert else None,
                detail=unverified_detail(cert),
            )
        )
        if verdict.rule == "store-unavailable":
            self.gateway.audit.note(event)  # a record would only wait out the store's deadline
            return
        # Written in the background: a refused client never waits for the store.
        self.gateway.spawn(self._audit_refusal(event))

    # sessions and forwarded connections
    def session_requested(
        self,
    ) -> tuple[asyncssh.SSHServerChannel[bytes], asyncssh.SSHServerSession[bytes]] | bool:
        context = self.context
        if context is None or self.gateway.draining or self._conn is None:
            return False
        session = GatewaySession(context)
        chan: asyncssh.SSHServerChannel[bytes] = self._conn.create_server_channel(encoding=None)
        watch_agent_requests(
            chan,
            permitted=lambda: context.permissions.get(PERMIT_AGENT_FORWARDING, False),
            requested=session.agent_was_requested,
        )
        return chan, session

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> asyncssh.SSHTCPSession[bytes] | Awaitable[asyncssh.SSHTCPSession[bytes]] | bool:
        """`ssh -L` / `ssh -W`: decided and audited in `forwarding.open_tunnel`."""
        if self.context is None or self.gateway.draining:
            return False
        return open_tunnel(self.context, dest_host, dest_port)

    # audit of refused authentication (requests are audited by the pipeline)
    async def _audit_refusal(self, event: AuditEvent) -> None:
        # Unauthenticated: the rows a source gets are budgeted (see `refusals`).
        await self.gateway.refusals.refused(event, self.client_address)

    def _located(self, event: AuditEvent) -> AuditEvent:
        return replace(event, client=self.client_address, service=event.service or self.requested)
