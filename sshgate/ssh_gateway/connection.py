"""One client connection: certificate authentication, then a session per channel.

Authentication accepts only a user certificate that passes every named check in
`certcheck`; plain keys, passwords and keyboard-interactive are not offered.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import asyncssh
from asyncssh.public_key import decode_ssh_public_key

from sshgate.ca.certificate import PresentedCertificate, parse_certificate
from sshgate.ca.errors import CertificateFormatError
from sshgate.logs import log
from sshgate.policy.decision import Decision, GatewaySettings, Identity, RequestKind, Target, decide
from sshgate.policy.messages import EXPIRED_BANNER, REVOKED_BANNER
from sshgate.policy.model import Endpoint
from sshgate.ssh_gateway._auth_adapter import take_over_public_key_auth
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
from sshgate.ssh_gateway.session import GatewaySession
from sshgate.ssh_gateway.upstream import UpstreamIdentity, connect_upstream
from sshgate.store.base import AuditEvent, AuditOutcome, StoreError

if TYPE_CHECKING:
    from sshgate.ssh_gateway.gateway import Gateway


def _is_certificate_blob(blob: bytes) -> bool:
    length = int.from_bytes(blob[:4], "big")
    return blob[4 : 4 + length].endswith(b"-cert-v01@openssh.com")


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class GatewayConnection(asyncssh.SSHServer):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.requested = ""
        self.client_address = ""
        self.identity: Identity | None = None
        self._candidate: tuple[PresentedCertificate, Identity] | None = None
        self._conn: asyncssh.SSHServerConnection | None = None
        self._failures = 0
        self._banner_sent = False
        self._upstreams: dict[Endpoint, asyncio.Future[asyncssh.SSHClientConnection]] = {}
        self._permissions: dict[str, bool] = {}
        self._denied_blobs: set[bytes] = set()

    # lifecycle
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self.client_address = str(peer[0]) if peer else ""
        take_over_public_key_auth(conn, self._validate)
        if not self.gateway.admit(self):
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many connections")

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.release(self)
        for future in self._upstreams.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().close()
            else:
                future.cancel()
        self._upstreams.clear()

    # authentication
    def begin_auth(self, username: str) -> bool:
        self.requested = username
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def auth_completed(self) -> None:
        if self._candidate is not None:
            cert, self.identity = self._candidate
            self._permissions = dict(permissions(cert))
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
            if self._failures >= self.gateway.config.gateway.max_auth_attempts and self._conn:
                self._conn.disconnect(
                    asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "too many authentication failures"
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
        if verdict.banner_rule and cert is not None and not self._banner_sent and self._conn:
            text = (
                EXPIRED_BANNER.format(when=_iso(cert.valid_before))
                if verdict.rule == "expired"
                else REVOKED_BANNER
            )
            try:
                self._conn.send_auth_banner(text + "\r\n")
                self._banner_sent = True
            except OSError:
                pass
        if blob in self._denied_blobs:
            return
        self._denied_blobs.add(blob)
        log(
            "auth_refused",
            rule=verdict.rule,
            client=self.client_address,
            service=self.requested,
            serial=cert.serial if cert else None,
        )
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

    # sessions
    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.identity is None or self.gateway.draining:
            return False
        return GatewaySession(self)

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
        """Decide on the live store: the user, the ledger and the org as they are now."""
        store = self.gateway.store
        identity = await refresh_identity(store, self.identity_or_raise())
        self.identity = identity
        target = await resolve_target(store, self.requested, identity.user.id)
        settings = GatewaySettings(self.gateway.config.gateway.allow_port_forwarding)
        return decide(identity, kind, target, settings), target

    async def upstream_for(self, endpoint: Endpoint) -> asyncssh.SSHClientConnection:
        """One upstream connection per environment, shared by this client's channels only."""
        future = self._upstreams.get(endpoint)
        if future is None or (future.done() and future.exception() is not None):
            identity = self.identity_or_raise()
            who = UpstreamIdentity(endpoint.user, identity.user.id, identity.user.username)
            future = asyncio.ensure_future(
                connect_upstream(endpoint, who, self.gateway.upstream_signer)
            )
            self._upstreams[endpoint] = future
        return await asyncio.shield(future)

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
        return await self.gateway.write_audit(full)

    def record_outcome(self, audit_id: int, outcome: AuditOutcome) -> None:
        self.gateway.write_outcome(audit_id, outcome)
