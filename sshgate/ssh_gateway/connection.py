"""One client connection: certificate authentication, then a session per channel.

Authentication accepts only a user certificate that passes every named check in
`certcheck`; plain keys, passwords and keyboard-interactive are not offered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import asyncssh
from asyncssh.public_key import decode_ssh_public_key

from sshgate import metrics
from sshgate.ca import CertificateFormatError, PresentedCertificate, parse_certificate
from sshgate.logs import log
from sshgate.policy import (
    EXPIRED_BANNER,
    REVOKED_BANNER,
    Decision,
    Endpoint,
    GatewaySettings,
    Identity,
    RequestKind,
    Target,
    decide,
)
from sshgate.ssh_gateway._agent_adapter import watch_agent_requests
from sshgate.ssh_gateway._auth_adapter import take_over_public_key_auth
from sshgate.ssh_gateway._packet_economy import economize
from sshgate.ssh_gateway.access import refresh_identity, resolve_target
from sshgate.ssh_gateway.certcheck import (
    PERMIT_AGENT_FORWARDING,
    PERMIT_PORT_FORWARDING,
    PERMIT_PTY,
    CheckInput,
    Verdict,
    check_certificate,
    permissions,
)
from sshgate.ssh_gateway.forwarding import open_tunnel
from sshgate.ssh_gateway.limits import KEEPALIVE_COUNT_MAX, keepalive_interval
from sshgate.ssh_gateway.proxy_protocol import expect_proxy_header, plain_address
from sshgate.ssh_gateway.session import STORE_UNAVAILABLE, GatewaySession
from sshgate.ssh_gateway.upstream import UpstreamIdentity, UpstreamPool
from sshgate.store import AuditEvent, AuditOutcome, StoreError

if TYPE_CHECKING:
    from sshgate.ssh_gateway.gateway import Gateway


# How long what the store said about a certificate's user and ledger entry is reused within
# one connection (between OpenSSH's key query and its signed attempt, and authentication
# and the first session). Policy (org, grants) is never reused.
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


class GatewayConnection(asyncssh.SSHServer):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.requested = ""
        self.client_address = ""
        self.identity: Identity | None = None
        self._candidate: tuple[PresentedCertificate, Identity] | None = None
        self._checked: dict[bytes, tuple[float, CheckResult]] = {}
        self._identity_read_at = float("-inf")
        self._conn: asyncssh.SSHServerConnection | None = None
        self._failures = 0
        self._banner_sent = False
        self.upstreams = UpstreamPool(
            self._upstream_identity, lambda: gateway.upstream_signer, gateway.idle_upstreams
        )
        self._permissions: dict[str, bool] = {}
        self._denied_blobs: set[bytes] = set()
        self._login_timer: asyncio.TimerHandle | None = None
        # Open channels, and since when there were none: for the idle timeout of a
        # connection that carries nothing (an idle ControlMaster, `ssh -N`).
        self.channels = 0
        self._quiet_since = time.monotonic()

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
            expect_proxy_header(conn, gw.proxy_protocol_trusted, self._proxied)
            return
        self._admit()

    def _proxied(self, client_address: str) -> None:
        self.client_address = client_address
        self._admit()

    def _admit(self) -> None:
        """Count the connection against the limits and start its login timer."""
        gw = self.gateway.config.gateway
        refusal = self.gateway.admit(self)
        if refusal is not None:
            # asyncssh sends its version line after this returns; a disconnect before it
            # would reach the client as a garbled banner instead of a readable reason.
            asyncio.get_running_loop().call_soon(
                self.close_for, refusal, asyncssh.DISC_TOO_MANY_CONNECTIONS, TOO_MANY_CONNECTIONS
            )
            return
        if gw.login_timeout:
            # The gateway's own timer rather than asyncssh's login_timeout, so that a
            # SIGHUP'd configuration applies to the next connection.
            loop = asyncio.get_running_loop()
            self._login_timer = loop.call_later(gw.login_timeout, self._login_expired)

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
        identity = self.identity_or_raise()
        return UpstreamIdentity(endpoint.user, identity.user.id, identity.user.username)

    # channels, for the idle timeout
    def channel_opened(self) -> None:
        self.channels += 1

    def channel_closed(self) -> None:
        self.channels = max(0, self.channels - 1)
        if self.channels == 0:
            self._quiet_since = time.monotonic()

    def quiet_seconds(self, now: float) -> float:
        """How long an authenticated connection has carried no channel at all (else 0)."""
        if self.identity is None or self.channels:
            return 0.0
        return now - self._quiet_since

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
            cert, self.identity = self._candidate
            self._permissions = dict(permissions(cert))
            self._quiet_since = time.monotonic()
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
        verdict, cert, identity = await self._check(blob)
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
            self._identity_read_at = time.monotonic()
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
        store = self.gateway.store
        try:
            trusted = await self.gateway.trusted.current()
            record = await store.get_certificate(cert.serial)
            user = await store.get_user(record.user_id if record else cert.key_id)
        except StoreError:
            return Verdict(False, "store-unavailable"), cert, None
        verdict = check_certificate(
            CheckInput(cert, int(time.time()), trusted, self.client_address, user, record)
        )
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
        await self.audit(
            AuditEvent(
                time=time.time(),
                kind="auth",
                decision="deny",
                reason=verdict.rule,
                serial=cert.serial if cert else None,
                user_id=cert.key_id[:64] if cert else None,
            )
        )

    # sessions and forwarded connections
    def session_requested(
        self,
    ) -> tuple[asyncssh.SSHServerChannel[bytes], asyncssh.SSHServerSession[bytes]] | bool:
        if self.identity is None or self.gateway.draining or self._conn is None:
            return False
        session = GatewaySession(self)
        chan: asyncssh.SSHServerChannel[bytes] = self._conn.create_server_channel(encoding=None)
        watch_agent_requests(
            chan,
            permitted=lambda: self._permissions.get(PERMIT_AGENT_FORWARDING, False),
            requested=session.agent_was_requested,
        )
        return chan, session

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> asyncssh.SSHTCPSession[bytes] | Awaitable[asyncssh.SSHTCPSession[bytes]] | bool:
        """`ssh -L` / `ssh -W`: decided and audited in `forwarding.open_tunnel`."""
        if self.identity is None or self.gateway.draining:
            return False
        return open_tunnel(self, dest_host, dest_port)

    @property
    def permits_pty(self) -> bool:
        return self._permissions.get(PERMIT_PTY, False)

    @property
    def env_allowlist(self) -> tuple[str, ...]:
        return self.gateway.config.gateway.env_allowlist

    def identity_or_raise(self) -> Identity:
        if self.identity is None:
            raise RuntimeError("session before authentication")
        return self.identity

    async def decide(self, kind: RequestKind) -> tuple[Decision, Target]:
        """Decide on the live store: the user, the ledger and the org as they are now.

        The user and the ledger entry are read again unless authentication read them less
        than a second ago (a fresh `ssh host cmd`); the org and grants are always read."""
        store = self.gateway.store
        identity = self.identity_or_raise()
        if time.monotonic() - self._identity_read_at >= FRESH_SECONDS:
            identity = await refresh_identity(store, identity)
            self._identity_read_at = time.monotonic()
        self.identity = identity
        target = await resolve_target(store, self.requested, identity.user.id)
        return self.decide_for(kind, target), target

    def decide_for(self, kind: RequestKind, target: Target) -> Decision:
        """A further request of a session already decided, on the same live facts."""
        settings = GatewaySettings(self.gateway.config.gateway.allow_port_forwarding)
        return decide(self.identity_or_raise(), kind, target, settings)

    # audit
    async def audit(self, event: AuditEvent) -> int | None:
        identity = self.identity
        full = AuditEvent(
            time=event.time,
            kind=event.kind,
            decision=event.decision,
            reason=event.reason,
            user_id=identity.user.id if identity else event.user_id,
            serial=identity.serial if identity else event.serial,
            client=self.client_address,
            service=event.service or self.requested,
            detail=event.detail,
        )
        log(
            "decision",
            decision=full.decision,
            rule=full.reason,
            kind=full.kind,
            user_id=full.user_id,
            serial=full.serial,
            client=full.client,
            service=full.service,
        )
        if full.kind == "auth":
            metrics.auth_refused(full.reason)
        else:
            metrics.decision(full.kind, full.decision, full.reason)
        return await self.gateway.write_audit(full)

    def session_ended(self, kind: str, audit_id: int | None, outcome: AuditOutcome) -> None:
        """One log line and the audit outcome for a session or forward that ended."""
        identity = self.identity
        log(
            "session_end",
            kind=kind,
            user_id=identity.user.id if identity else None,
            serial=identity.serial if identity else None,
            client=self.client_address,
            service=self.requested,
            bytes_in=outcome.bytes_in,
            bytes_out=outcome.bytes_out,
            exit_status=outcome.exit_status,
            duration=round(outcome.duration, 3),
        )
        if audit_id is not None:
            self.gateway.write_outcome(audit_id, outcome)
