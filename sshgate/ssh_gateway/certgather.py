"""The I/O half of certificate checking: gathers what `certcheck` judges a presented
certificate on, in two steps, so that a stranger costs as little as possible.

First the certificate alone (`CERTIFICATE_CHECKS`: is the signer trusted and acceptable,
does the signature verify, is it valid now and not for too long, ...), with only the
cached trusted keys; only a certificate that passes those makes the gateway read the
store (the ledger entry, the user, the revocations) for `STORE_CHECKS`.
"""

from __future__ import annotations

import time
from dataclasses import replace

from sshgate.ca import PresentedCertificate
from sshgate.logs import key_values
from sshgate.ssh_gateway.certcheck import (
    CERTIFICATE_CHECKS,
    NOT_REVOKED,
    STANDING_CHECKS,
    CheckInput,
    Verdict,
    check_certificate,
    ledger_entry,
)
from sshgate.ssh_gateway.trust import TrustedSigners
from sshgate.store import CertificateRecord, Revocation, Store, StoreError

# How much of a refused certificate's key ID the audit keeps.
MAX_KEY_ID = 256


async def judge_certificate(
    cert: PresentedCertificate,
    store: Store,
    trusted: TrustedSigners,
    client_address: str,
    max_certificate_ttl: int,
) -> tuple[Verdict, CheckInput | None]:
    """The verdict on `cert`, and the facts it was reached on (None when the store could
    not answer: the verdict is then `store-unavailable`)."""
    try:
        signers = await trusted.current()
    except StoreError:
        return Verdict(False, "store-unavailable"), None
    facts = CheckInput(
        cert=cert,
        now=int(time.time()),
        trusted_signers=signers.trusted,
        client_address=client_address,
        user=None,
        record=None,
        own_signers=signers.own,
        max_certificate_ttl=max_certificate_ttl,
    )
    verdict = check_certificate(facts, CERTIFICATE_CHECKS)
    if not verdict.ok:
        return verdict, facts
    try:
        record = ledger_entry(cert, await store.get_certificate(cert.serial))
        user = await store.get_user(record.user_id if record else cert.key_id)
        revocation = await _revocation(cert, store, record)
    except StoreError:
        return Verdict(False, "store-unavailable"), None
    facts = replace(facts, user=user, record=record, revocation=revocation)
    return check_certificate(facts), facts


async def certificate_stands(
    cert: PresentedCertificate, store: Store, trusted: TrustedSigners, max_certificate_ttl: int
) -> bool:
    """Whether an accepted certificate still stands for the live re-check: its signer is
    still trusted and it was not revoked since (`STANDING_CHECKS`). Raises StoreError."""
    signers = await trusted.current()
    record = ledger_entry(cert, await store.get_certificate(cert.serial))
    facts = CheckInput(
        cert=cert,
        now=int(time.time()),
        trusted_signers=signers.trusted,
        client_address="",
        user=None,
        record=record,
        own_signers=signers.own,
        max_certificate_ttl=max_certificate_ttl,
        revocation=await _revocation(cert, store, record),
    )
    return check_certificate(facts, STANDING_CHECKS).ok


async def _revocation(
    cert: PresentedCertificate, store: Store, record: CertificateRecord | None
) -> Revocation:
    """Revocations outside the ledger apply to certificates outside it."""
    if record is not None:
        return NOT_REVOKED
    return await store.get_revocation(cert.signer_fingerprint, cert.serial, cert.key_id)


def unverified_detail(cert: PresentedCertificate | None) -> str | None:
    """What a refused certificate claims, for the audit record's detail: its key ID is
    recorded as unverified (never as a user id), with the key that signed it."""
    if cert is None:
        return None
    return key_values(
        [("unverified_key_id", cert.key_id[:MAX_KEY_ID]), ("signer", cert.signer_fingerprint)]
    )


__all__ = ["certificate_stands", "judge_certificate", "unverified_detail"]
