"""Build OpenSSH certificates at the wire level, including ones no real CA would sign.

Independent of ``sshgate`` on purpose (only ``cryptography``), so the vectors check the
implementation rather than repeat it. Keys are derived from fixed seeds and Ed25519 and
RFC 6979 ECDSA signatures are deterministic, so the same spec gives the same bytes.

Used by ``generate.py`` to write the fixture files, and by tests to build certificates
whose validity is relative to the current time (see ``build_relative``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

CERT_SUFFIX = "-cert-v01@openssh.com"
USER_CERT = 1
HOST_CERT = 2

USER_ID = "11111111-1111-4111-8111-111111111111"
USERNAME = "alice"
OTHER_USER_ID = "22222222-2222-4222-8222-222222222222"
UNKNOWN_USER_ID = "33333333-3333-4333-8333-333333333333"
CLIENT_ADDRESS = "127.0.0.1"

AUTH_TIME = 1767225600  # 2026-01-01T00:00:00Z
GOOD_VALID_AFTER = AUTH_TIME - 60
FAR_FUTURE = 4070908800  # 2099-01-01T00:00:00Z

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


# --- wire encoding -------------------------------------------------------------------


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def u64(value: int) -> bytes:
    return struct.pack(">Q", value)


def string(value: bytes | str) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return u32(len(raw)) + raw


def mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return string(raw)


def wrap(value: bytes | str) -> bytes:
    """The data field of a non-empty option or extension: the value as an SSH string."""
    return string(value)


# --- keys ------------------------------------------------------------------------------


def seeded_ed25519(label: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(_seed(label))


def seeded_ecdsa_p256(label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(_seed(label), "big") % (2**255) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def trusted_ca_key() -> ed25519.Ed25519PrivateKey:
    return seeded_ed25519("trusted CA")


def untrusted_ca_key() -> ed25519.Ed25519PrivateKey:
    return seeded_ed25519("untrusted CA")


def own_ca_key() -> ed25519.Ed25519PrivateKey:
    """sshgate's own CA key (recorded in the store): its certificates must be in the ledger.
    The other trusted CA (``trusted_ca_key``) stands for a ``ca.trusted_public_keys`` CA."""
    return seeded_ed25519("own CA")


def rsa_key_with_exponent(exponent: int, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key with any odd public exponent (cryptography generates only 3 and 65537):
    the primes of a fresh key, the private exponent computed for ``exponent``."""
    while True:
        base = rsa.generate_private_key(public_exponent=65537, key_size=bits).private_numbers()
        p, q = base.p, base.q
        phi = (p - 1) * (q - 1)
        try:
            d = pow(exponent, -1, phi)
        except ValueError:
            continue  # not coprime with this phi; try other primes
        numbers = rsa.RSAPrivateNumbers(
            p,
            q,
            d,
            rsa.rsa_crt_dmp1(d, p),
            rsa.rsa_crt_dmq1(d, q),
            rsa.rsa_crt_iqmp(p, q),
            rsa.RSAPublicNumbers(exponent, p * q),
        )
        return numbers.private_key()


def user_key() -> ed25519.Ed25519PrivateKey:
    return seeded_ed25519("user alice")


def public_key_blob(key: PublicKey | PrivateKey) -> bytes:
    """The wire blob (``string type || fields``) of a key's public half."""
    public = key.public_key() if not isinstance(key, PublicKey) else key
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def key_type_of(blob: bytes) -> str:
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + length].decode("ascii")


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"sshgate test vector key: {label}".encode()).digest()


# --- certificates ------------------------------------------------------------------------


def claims_json(
    sub: str = USER_ID, mfa: bool = True, jti: str = "vector", auth_time: int = AUTH_TIME
) -> bytes:
    amr = ["pwd", "mfa"] if mfa else ["pwd"]
    document = {"sub": sub, "amr": amr, "auth_time": auth_time, "jti": jti}
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def standard_extensions(
    claims: bytes, mfa: bool, permissions: bool = True
) -> list[tuple[str, bytes]]:
    """What sshgate's CA puts in a certificate, in OpenSSH's (sorted) order."""
    entries: list[tuple[str, bytes]] = []
    if permissions:
        entries += [
            ("permit-agent-forwarding", b""),
            ("permit-port-forwarding", b""),
            ("permit-pty", b""),
        ]
    entries.append(("token-claims@sshgate", wrap(claims)))
    if mfa:
        entries.append(("has-mfa@sshgate", b""))
    return sorted(entries)


@dataclass(frozen=True)
class CertificateSpec:
    """Every field of a certificate; option and extension data are raw (use ``wrap``)."""

    subject: PublicKey
    serial: int = 1
    cert_type: int = USER_CERT
    key_id: bytes | str = USER_ID
    principals: Sequence[bytes | str] = (USERNAME,)
    valid_after: int = GOOD_VALID_AFTER
    valid_before: int = FAR_FUTURE
    critical_options: Sequence[tuple[bytes | str, bytes]] = ()
    extensions: Sequence[tuple[bytes | str, bytes]] = ()
    nonce: bytes = b"\x00" * 32
    reserved: bytes = b""
    # Overrides for hostile vectors: another type name, or other subject key fields.
    key_type: str | None = None
    subject_fields: bytes | None = None

    def body(self) -> bytes:
        """Everything up to and excluding the signature key."""
        plain = public_key_blob(self.subject)
        plain_type = key_type_of(plain)
        fields = self.subject_fields
        if fields is None:
            fields = plain[4 + len(plain_type) :]
        key_type = self.key_type or plain_type + CERT_SUFFIX
        return b"".join(
            [
                string(key_type),
                string(self.nonce),
                fields,
                u64(self.serial),
                u32(self.cert_type),
                string(self.key_id),
                string(b"".join(string(p) for p in self.principals)),
                u64(self.valid_after),
                u64(self.valid_before),
                string(b"".join(string(n) + string(v) for n, v in self.critical_options)),
                string(b"".join(string(n) + string(v) for n, v in self.extensions)),
                string(self.reserved),
            ]
        )

    @property
    def line_type(self) -> str:
        return self.key_type or key_type_of(public_key_blob(self.subject)) + CERT_SUFFIX


def sign(signer: PrivateKey, data: bytes, algorithm: str | None = None) -> bytes:
    """An SSH signature blob (``string algorithm || string signature``)."""
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return string(algorithm or "ssh-ed25519") + string(signer.sign(data))
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        size = signer.curve.key_size
        digest = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[size]
        der = signer.sign(data, ec.ECDSA(digest, deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return string(algorithm or f"ecdsa-sha2-nistp{size}") + string(mpint(r) + mpint(s))
    algorithm = algorithm or "rsa-sha2-512"
    digest_type = {
        "ssh-rsa": hashes.SHA1,
        "rsa-sha2-256": hashes.SHA256,
        "rsa-sha2-512": hashes.SHA512,
    }[algorithm]
    return string(algorithm) + string(signer.sign(data, padding.PKCS1v15(), digest_type()))


def build(
    spec: CertificateSpec,
    signer: PrivateKey,
    *,
    signature_key_blob: bytes | None = None,
    algorithm: str | None = None,
) -> bytes:
    """The certificate blob, signed by ``signer`` (which ``signature_key_blob`` may misname)."""
    key_blob = public_key_blob(signer) if signature_key_blob is None else signature_key_blob
    signed = spec.body() + string(key_blob)
    return signed + string(sign(signer, signed, algorithm))


def to_line(blob: bytes, key_type: str | None = None, comment: str = "") -> str:
    line = f"{key_type or _safe_type(blob)} {base64.b64encode(blob).decode('ascii')}"
    return f"{line} {comment}" if comment else line


def _safe_type(blob: bytes) -> str:
    try:
        return key_type_of(blob)
    except (struct.error, UnicodeDecodeError):
        return "ssh-ed25519" + CERT_SUFFIX


def good_spec(
    serial: int = 1, mfa: bool = True, subject: PublicKey | None = None, **changes: Any
) -> CertificateSpec:
    """A certificate as sshgate's CA issues it for alice, valid 2026-2099."""
    claims = claims_json(mfa=mfa, jti=f"vector-{serial}")
    spec = CertificateSpec(
        subject=subject or user_key().public_key(),
        serial=serial,
        extensions=standard_extensions(claims, mfa),
        nonce=hashlib.sha256(f"nonce {serial}".encode()).digest(),
    )
    return replace(spec, **changes)


def build_relative(marker: dict[str, Any], now: int) -> bytes:
    """Build a vector whose validity is relative to ``now`` (see ``relative`` in vectors.json).

    ``marker`` holds ``serial``, ``mfa`` and the offsets ``valid_after`` / ``valid_before``
    in seconds from ``now``; the result is signed by the trusted CA.
    """
    spec = good_spec(
        serial=int(marker["serial"]),
        mfa=bool(marker.get("mfa", True)),
        valid_after=now + int(marker["valid_after"]),
        valid_before=now + int(marker["valid_before"]),
    )
    return build(spec, trusted_ca_key())


@dataclass
class Vector:
    """One fixture: how to build it and what the gateway must conclude."""

    name: str
    rule: str
    notes: str
    blob: bytes | None = None
    line: str | None = None
    relative: dict[str, Any] | None = None
    parses: bool = True
    signature_valid: bool = True
    setup: dict[str, Any] = field(default_factory=dict)
