"""Checking the CA signature over a certificate (PROTOCOL.certkeys, RFC 8332, RFC 5656).

Works on untrusted bytes and never raises: the outcome is whether the signature verifies
with the signature key named in the certificate. Whether that key is trusted is the
caller's question.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sshgate.ca._keyformats import PLAIN_KEY_TYPES, read_public_key
from sshgate.ca._wire import WireError, WireReader
from sshgate.ca.keys import PublicKey

__all__ = [
    "RSA_EXPONENT",
    "RSA_MAX_BITS",
    "RSA_MIN_BITS",
    "SignatureCheck",
    "acceptable_signer_key",
    "check_signature",
    "peek_type",
]

# A CA key that costs more to verify with than an honest one is refused before any
# signature work: RSA with a modulus of 2048 to 8192 bits and the exponent 65537.
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
RSA_EXPONENT = 65537

_RSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "ssh-rsa": hashes.SHA1,
    "rsa-sha2-256": hashes.SHA256,
    "rsa-sha2-512": hashes.SHA512,
}
_ECDSA_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    521: hashes.SHA512,
}


@dataclass(frozen=True)
class SignatureCheck:
    key_type: str
    algorithm: str
    valid: bool


def check_signature(signature_key_blob: bytes, signature: bytes, signed: bytes) -> SignatureCheck:
    """Verify ``signature`` (an SSH signature blob) over ``signed`` with the given key blob.

    A signature key that is itself a certificate, or that cannot be parsed, never verifies.
    """
    key_type = peek_type(signature_key_blob)
    algorithm = peek_type(signature)
    if key_type not in PLAIN_KEY_TYPES or not acceptable_signer_key(signature_key_blob):
        # Includes "*-cert-v01@openssh.com": a certificate cannot sign certificates.
        return SignatureCheck(key_type, algorithm, False)
    try:
        key = _read_key(key_type, signature_key_blob)
        sig_reader = WireReader(signature)
        sig_reader.string()
        raw = sig_reader.string()
        sig_reader.expect_end()
        valid = _verify(key, algorithm, raw, signed)
    except (WireError, InvalidSignature, ValueError, UnsupportedAlgorithm):
        valid = False
    return SignatureCheck(key_type, algorithm, valid)


def _verify(key: PublicKey, algorithm: str, raw: bytes, signed: bytes) -> bool:
    if isinstance(key, ed25519.Ed25519PublicKey):
        if algorithm != "ssh-ed25519" or len(raw) != 64:
            return False
        key.verify(raw, signed)
        return True
    if isinstance(key, ec.EllipticCurvePublicKey):
        if algorithm != f"ecdsa-sha2-nistp{key.curve.key_size}":
            return False
        inner = WireReader(raw)
        r, s = inner.positive_mpint(), inner.positive_mpint()
        inner.expect_end()
        ec_hash = _ECDSA_HASHES[key.curve.key_size]
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(ec_hash()))
        return True
    rsa_hash = _RSA_HASHES.get(algorithm)
    if rsa_hash is None or not isinstance(key, rsa.RSAPublicKey):
        return False
    key.verify(raw, signed, padding.PKCS1v15(), rsa_hash())
    return True


def acceptable_signer_key(signature_key_blob: bytes) -> bool:
    """Whether a CA key is one sshgate verifies with: a plain Ed25519 or ECDSA key, or an
    RSA key of RSA_MIN_BITS..RSA_MAX_BITS bits with exponent RSA_EXPONENT. Reads the RSA
    numbers without any arithmetic on them."""
    key_type = peek_type(signature_key_blob)
    if key_type not in PLAIN_KEY_TYPES:
        return False
    if key_type != "ssh-rsa":
        return True
    try:
        reader = WireReader(signature_key_blob)
        reader.string()
        exponent = reader.positive_mpint()
        modulus = reader.positive_mpint()
        reader.expect_end()
    except WireError:
        return False
    return exponent == RSA_EXPONENT and RSA_MIN_BITS <= modulus.bit_length() <= RSA_MAX_BITS


def _read_key(key_type: str, blob: bytes) -> PublicKey:
    reader = WireReader(blob)
    reader.string()
    key = read_public_key(key_type, reader)
    reader.expect_end()
    return key


def peek_type(blob: bytes) -> str:
    """The leading type string of a key or signature blob, or "" when there is none."""
    try:
        return WireReader(blob).text()
    except WireError:
        return ""
