"""Certificate validation: a list of named checks, in the order OpenSSH's auth2-pubkey.c
applies them. Pure: the shell gathers the inputs (the presented blob, the trusted signers,
the user and ledger entry the certificate names), the checks decide.

The first failing check's name is the refusal reason written to the audit log.

The checks come in two halves: CERTIFICATE_CHECKS look only at the certificate, the
trusted keys and the client address, and run before anything is read from the store, so a
stranger's certificate costs neither a store read nor (for an untrusted or unacceptable
signer) any signature work; STORE_CHECKS then judge it against the ledger and the user.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sshgate.ca import CLAIMS_EXTENSION, MFA_EXTENSION, Claims, ClaimsError, PresentedCertificate
from sshgate.policy import User
from sshgate.store import CertificateRecord, Revocation

KNOWN_CRITICAL_OPTIONS = frozenset({"source-address"})
PERMIT_PORT_FORWARDING = "permit-port-forwarding"
PERMIT_AGENT_FORWARDING = "permit-agent-forwarding"
PERMIT_PTY = "permit-pty"
# sshgate's CA starts a certificate's validity this long before it issues it.
ISSUE_BACKDATE = 60
NOT_REVOKED = Revocation()


@dataclass(frozen=True)
class CheckInput:
    """Everything the checks look at, gathered by the shell before they run."""

    cert: PresentedCertificate
    now: int
    trusted_signers: frozenset[str]  # SHA256 fingerprints of trusted CA keys
    client_address: str
    # The user behind the certificate: the one the ledger says its serial was issued to, or
    # (for a certificate from a `ca.trusted_public_keys` CA, not in the ledger) the key ID's.
    user: User | None
    record: CertificateRecord | None  # the ledger entry for the serial and signer, if any
    # sshgate's own CA keys (the store's): their certificates must be in the ledger.
    own_signers: frozenset[str]
    max_certificate_ttl: int  # `ca.max_certificate_ttl`: no certificate may be valid longer
    revocation: Revocation = NOT_REVOKED  # the per-CA serial and key ID revocations


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rule: str
    claims: Claims | None = None

    @property
    def banner_rule(self) -> str | None:
        return self.rule if self.rule in ("expired", "revoked") else None


Check = Callable[[CheckInput], bool]


def _is_user_certificate(i: CheckInput) -> bool:
    return i.cert.cert_type == "user"


def _signer_is_plain_key(i: CheckInput) -> bool:
    return not i.cert.signature_key_type.endswith("-cert-v01@openssh.com")


def _trusted_signer(i: CheckInput) -> bool:
    return i.cert.signer_fingerprint in i.trusted_signers


def _acceptable_signer_key(i: CheckInput) -> bool:
    return i.cert.signer_key_acceptable


def _good_signature(i: CheckInput) -> bool:
    return i.cert.signature_valid


def _not_expired(i: CheckInput) -> bool:
    return i.now < i.cert.valid_before


def _already_valid(i: CheckInput) -> bool:
    return i.cert.valid_after <= i.now


def _not_too_long(i: CheckInput) -> bool:
    lifetime = i.cert.valid_before - i.cert.valid_after
    return lifetime <= i.max_certificate_ttl + ISSUE_BACKDATE


def _one_principal(i: CheckInput) -> bool:
    principals = i.cert.principals
    return len(principals) == 1 and bool(principals[0]) and "," not in principals[0]


def _known_critical_options(i: CheckInput) -> bool:
    names = [name for name, _ in i.cert.critical_options]
    return len(names) == len(set(names)) and set(names) <= KNOWN_CRITICAL_OPTIONS


def _source_address_matches(i: CheckInput) -> bool:
    raw = i.cert.critical_option_value("source-address")
    if raw is None:
        return True
    try:
        client = ipaddress.ip_address(i.client_address)
        networks = [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.decode("ascii").split(",")
        ]
    except (ValueError, UnicodeDecodeError):
        return False
    return any(client in network for network in networks)


def _valid_claims(i: CheckInput) -> bool:
    try:
        claims = i.cert.claims()
    except ClaimsError:
        return False
    # has-mfa@sshgate is the flag OpenSSH tools can see; it must say what the claims say.
    flagged = any(name == MFA_EXTENSION for name, _ in i.cert.extensions)
    return claims.sub == i.cert.key_id and flagged == claims.has_mfa


def _issued(i: CheckInput) -> bool:
    """A certificate signed by one of sshgate's own CA keys is believed only when the ledger
    holds its serial, for that CA key and the key it certifies: a leaked CA key cannot mint
    certificates that were never issued, nor reuse an issued serial for another key."""
    if i.cert.signer_fingerprint not in i.own_signers:
        return True
    record = ledger_entry(i.cert, i.record)
    return record is not None and record.key_fingerprint == i.cert.subject_fingerprint


def _known_user(i: CheckInput) -> bool:
    return i.user is not None


def _enabled_user(i: CheckInput) -> bool:
    return i.user is not None and not i.user.disabled


def _key_id_is_user(i: CheckInput) -> bool:
    return i.user is not None and i.cert.key_id == i.user.id


def _principal_is_username(i: CheckInput) -> bool:
    return i.user is not None and i.cert.principals == (i.user.username,)


def _not_revoked(i: CheckInput) -> bool:
    record = ledger_entry(i.cert, i.record)
    if record is not None and record.revoked_at is not None:
        return False
    if i.revocation.serial_revoked_at is not None:
        return False
    # Outside the ledger, revoking a key ID revokes the certificates valid before then.
    key_id_revoked_at = i.revocation.key_id_revoked_at
    return record is not None or key_id_revoked_at is None or i.cert.valid_after > key_id_revoked_at


def ledger_entry(
    cert: PresentedCertificate, record: CertificateRecord | None
) -> CertificateRecord | None:
    """The ledger entry that describes `cert`: the one for its serial, when the same CA key
    issued it (another CA's certificate may carry the same serial)."""
    if record is None or record.ca_fingerprint != cert.signer_fingerprint:
        return None
    return record


# Order matters: nothing the certificate says is believed before its signer is trusted and
# its signature checked (trust first: an untrusted signer costs no signature work), and
# nothing is looked up for a certificate that names more or less than one principal.
CERTIFICATE_CHECKS: tuple[tuple[str, Check], ...] = (
    ("not-user-certificate", _is_user_certificate),
    ("signer-is-certificate", _signer_is_plain_key),
    ("untrusted-signer", _trusted_signer),
    ("signer-key", _acceptable_signer_key),
    ("bad-signature", _good_signature),
    ("expired", _not_expired),
    ("not-yet-valid", _already_valid),
    ("validity-too-long", _not_too_long),
    ("principals", _one_principal),
    ("critical-option", _known_critical_options),
    ("source-address", _source_address_matches),
    ("claims", _valid_claims),
)
STORE_CHECKS: tuple[tuple[str, Check], ...] = (
    ("not-issued", _issued),
    ("unknown-user", _known_user),
    ("user-disabled", _enabled_user),
    ("key-id", _key_id_is_user),
    ("principals", _principal_is_username),
    ("revoked", _not_revoked),
)
CHECKS = CERTIFICATE_CHECKS + STORE_CHECKS
# What can change about an accepted certificate while its sessions are open: its signer can
# be distrusted and the certificate revoked (it expiring closes nothing, as in OpenSSH).
STANDING_CHECKS: tuple[tuple[str, Check], ...] = (
    ("untrusted-signer", _trusted_signer),
    ("revoked", _not_revoked),
)


def check_certificate(i: CheckInput, checks: tuple[tuple[str, Check], ...] = CHECKS) -> Verdict:
    """The first of `checks` that fails, or ok with the certificate's claims."""
    for name, check in checks:
        if not check(i):
            return Verdict(False, name)
    return Verdict(True, "ok", i.cert.claims())


def permissions(cert: PresentedCertificate) -> Mapping[str, bool]:
    names = {name for name, _ in cert.extensions}
    return {
        PERMIT_PTY: PERMIT_PTY in names,
        PERMIT_PORT_FORWARDING: PERMIT_PORT_FORWARDING in names,
        PERMIT_AGENT_FORWARDING: PERMIT_AGENT_FORWARDING in names,
    }


__all__ = [
    "CERTIFICATE_CHECKS",
    "CHECKS",
    "CLAIMS_EXTENSION",
    "NOT_REVOKED",
    "STANDING_CHECKS",
    "STORE_CHECKS",
    "CheckInput",
    "Verdict",
    "check_certificate",
    "ledger_entry",
    "permissions",
]
