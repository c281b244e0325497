"""Issuing user certificates: the CA side, pure apart from the signature's random nonce.

The certificate layout (docs/reference/certificates.md): key ID = user id,
one principal = the username, validity from issue time - 60 s to issue time + TTL,
the three permit-* extensions, the claims, has-mfa exactly when amr holds "mfa", and a
``source-address`` critical option only when the address is bound.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sshgate.ca.claims import CLAIMS_EXTENSION, MFA_EXTENSION, Claims, encode_claims
from sshgate.ca.errors import ClaimsError, KeyRejected, TTLRefused
from sshgate.ca.keys import PublicKey

__all__ = [
    "CLOCK_SKEW_ALLOWANCE",
    "IssueRequest",
    "Permissions",
    "check_user_public_key",
    "issue_certificate",
    "resolve_ttl",
]

# valid_after is backdated by this much so that a host whose clock is a little behind
# the CA's still accepts a certificate fresh off the press.
CLOCK_SKEW_ALLOWANCE = 60
MIN_RSA_BITS = 3072
# OpenSSH refuses RSA keys above 16384 bits; so do we, which also bounds the work.
MAX_RSA_BITS = 16384
_MAX_KEY_LINE = 16 * 1024
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,38}")
_ACCEPTED_CLASSES = (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey)
_ACCEPTED_TYPES: dict[str, type[object]] = {
    "ssh-ed25519": ed25519.Ed25519PublicKey,
    "ecdsa-sha2-nistp256": ec.EllipticCurvePublicKey,
    "ecdsa-sha2-nistp384": ec.EllipticCurvePublicKey,
    "ecdsa-sha2-nistp521": ec.EllipticCurvePublicKey,
    "ssh-rsa": rsa.RSAPublicKey,
}


@dataclass(frozen=True)
class Permissions:
    """Which ``permit-*`` extensions a certificate carries (``ca.permit_*``)."""

    pty: bool = True
    port_forwarding: bool = True
    agent_forwarding: bool = True


@dataclass(frozen=True)
class IssueRequest:
    """Everything that goes into one user certificate; the store supplies serial and claims."""

    public_key: str
    user_id: str
    username: str
    serial: int
    claims: Claims
    issued_at: int
    ttl: int
    permissions: Permissions
    source_address: str | None = None


def resolve_ttl(requested: int | None, default: int, maximum: int) -> int:
    """The certificate lifetime: the request's ``ttl`` when given, else ``ca.certificate_ttl``.

    Raises TTLRefused when the requested value is not a positive integer or exceeds
    ``ca.max_certificate_ttl``.
    """
    if requested is None:
        return default
    if isinstance(requested, bool) or not isinstance(requested, int) or requested <= 0:
        raise TTLRefused("ttl must be a positive number of seconds")
    if requested > maximum:
        raise TTLRefused(f"ttl {requested} exceeds the maximum of {maximum} seconds")
    return requested


def cap_ttl(lifetime: int, issued_at: int, ends_at: float | None) -> int:
    """The lifetime cut so that the certificate ends no later than `ends_at`, the end of the
    login session or API token that asks for it (None: a token without expiry). Raises
    TTLRefused when nothing is left."""
    if ends_at is None:
        return lifetime
    left = int(ends_at) - issued_at
    if left <= 0:
        raise TTLRefused("the login session or token ends now; log in again")
    return min(lifetime, left)


def check_user_public_key(line: str) -> PublicKey:
    """The key of an OpenSSH public key line, if it may be certified; else KeyRejected."""
    if len(line) > _MAX_KEY_LINE:
        raise KeyRejected("public key line is too long")
    fields = line.strip().split()
    if len(fields) < 2:
        raise KeyRejected("not an OpenSSH public key line")
    key_type = fields[0]
    if key_type.endswith("-cert-v01@openssh.com"):
        raise KeyRejected("a certificate cannot be certified; send the plain public key")
    expected = _ACCEPTED_TYPES.get(key_type)
    if expected is None:
        raise KeyRejected(f"key type {key_type[:64]!r} is not accepted; use ssh-ed25519")
    try:
        key = serialization.load_ssh_public_identity(f"{fields[0]} {fields[1]}".encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise KeyRejected("malformed public key") from None
    if not isinstance(key, expected) or not isinstance(key, _ACCEPTED_CLASSES):
        raise KeyRejected("malformed public key")
    if isinstance(key, rsa.RSAPublicKey) and not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
        raise KeyRejected(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")
    return key


def issue_certificate(signing_key: Ed25519PrivateKey, req: IssueRequest) -> str:
    """Sign a user certificate for ``req`` and return it as an OpenSSH one-line string.

    Raises KeyRejected for an unacceptable key, TTLRefused for a non-positive TTL,
    ClaimsError when the claims are invalid or name another user, and ValueError for a
    serial, username or source address that the store or API should never produce.
    """
    subject = check_user_public_key(req.public_key)
    if req.ttl <= 0:
        raise TTLRefused("ttl must be a positive number of seconds")
    if req.claims.sub != req.user_id:
        raise ClaimsError("claims 'sub' is not the certificate's user id")
    if not 0 < req.serial < 2**64:
        raise ValueError("serial must be a positive 64-bit integer")
    if not _USERNAME.fullmatch(req.username):
        raise ValueError("username is not a valid sshgate username")
    if not req.user_id or not req.user_id.isprintable():
        raise ValueError("user id must be printable")

    builder = (
        serialization.SSHCertificateBuilder()
        .public_key(subject)
        .type(serialization.SSHCertificateType.USER)
        .key_id(req.user_id.encode("utf-8"))
        .valid_principals([req.username.encode("ascii")])
        .serial(req.serial)
        .valid_after(max(0, req.issued_at - CLOCK_SKEW_ALLOWANCE))
        .valid_before(req.issued_at + req.ttl)
    )
    # cryptography's builder wraps every non-empty value in an SSH string itself (and leaves
    # empty ones empty), which is the OpenSSH layout that ssh-keygen -L reads; so values are
    # passed as the raw bytes here and must not be wrapped a second time.
    for name, on in (
        ("permit-agent-forwarding", req.permissions.agent_forwarding),
        ("permit-port-forwarding", req.permissions.port_forwarding),
        ("permit-pty", req.permissions.pty),
    ):
        if on:
            builder = builder.add_extension(name.encode("ascii"), b"")
    builder = builder.add_extension(CLAIMS_EXTENSION.encode("ascii"), encode_claims(req.claims))
    if req.claims.has_mfa:
        builder = builder.add_extension(MFA_EXTENSION.encode("ascii"), b"")
    if req.source_address is not None:
        builder = builder.add_critical_option(
            b"source-address", _check_source_address(req.source_address).encode("ascii")
        )
    certificate = builder.sign(signing_key)
    return certificate.public_bytes().decode("ascii")


def _check_source_address(value: str) -> str:
    # OpenSSH's format: a comma-separated list of addresses or CIDR networks.
    entries = value.split(",")
    for entry in entries:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ValueError("source address is not an IP address or network") from None
    return ",".join(entry.strip() for entry in entries)
