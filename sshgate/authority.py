"""The certificate authority as a service: allocates a serial, signs with the active key,
and records the certificate in the ledger before handing it out."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from sshgate.ca import (
    Claims,
    IssueRequest,
    KeyDir,
    KeyFileError,
    Permissions,
    cap_ttl,
    check_user_public_key,
    fingerprint,
    issue_certificate,
    public_key_line,
    resolve_ttl,
)
from sshgate.policy import User
from sshgate.store import CertificateRecord, ConflictError, Store

SERIAL_ATTEMPTS = 8


@dataclass(frozen=True)
class CAPolicy:
    """The `ca.*` settings that shape a certificate."""

    certificate_ttl: int = 3600
    max_certificate_ttl: int = 86400
    permissions: Permissions = field(default_factory=Permissions)
    bind_source_address: bool = False


@dataclass(frozen=True)
class Issued:
    certificate: str
    serial: int
    valid_after: int
    valid_before: int


class CertificateAuthority:
    def __init__(self, keydir: KeyDir, store: Store, policy: CAPolicy) -> None:
        self._keydir = keydir
        self._store = store
        self._policy = policy

    async def issue(
        self,
        user: User,
        public_key: str,
        amr: tuple[str, ...],
        auth_time: int,
        jti: str,
        ttl: int | None = None,
        client_address: str | None = None,
        ends_at: float | None = None,
    ) -> Issued:
        """Sign `public_key` for `user`, valid no later than `ends_at` (when the login session
        or token `jti` ends). Raises KeyRejected, TTLRefused, StoreError, and KeyFileError when
        there is no usable active key (none, or one that was distrusted)."""
        key = check_user_public_key(public_key)
        lifetime = resolve_ttl(ttl, self._policy.certificate_ttl, self._policy.max_certificate_ttl)
        _, signing_key = self._keydir.active()
        ca_fp = fingerprint(public_key_line(signing_key.public_key()))
        if ca_fp in await self._store.list_distrusted_ca_keys():
            # Every gateway would refuse what it signs: say so instead of handing it out.
            raise KeyFileError(
                f"the active CA key {ca_fp} was distrusted; run sshgate admin ca rotate"
            )
        claims = Claims(sub=user.id, amr=amr, auth_time=auth_time, jti=jti)
        now = int(time.time())
        lifetime = cap_ttl(lifetime, now, ends_at)
        source = client_address if self._policy.bind_source_address else None
        for _ in range(SERIAL_ATTEMPTS):
            # Random 64-bit serials never collide in practice; the ledger's key makes sure.
            serial = secrets.randbits(64) or 1
            record = CertificateRecord(
                serial=serial,
                user_id=user.id,
                key_fingerprint=fingerprint(public_key_line(key)),
                valid_after=now - 60,
                valid_before=now + lifetime,
                amr=amr,
                jti=jti,
                ca_fingerprint=ca_fp,
                issued_at=time.time(),
            )
            try:
                await self._store.record_certificate(record)
            except ConflictError:
                continue
            certificate = issue_certificate(
                signing_key,
                IssueRequest(
                    public_key=public_key,
                    user_id=user.id,
                    username=user.username,
                    serial=serial,
                    claims=claims,
                    issued_at=now,
                    ttl=lifetime,
                    permissions=self._policy.permissions,
                    source_address=source,
                ),
            )
            return Issued(certificate, serial, record.valid_after, record.valid_before)
        raise ConflictError("could not allocate a unique certificate serial")
