"""Reading the public-key fields that follow a key type on the wire (RFC 4253, 5656, 8709).

Shared by the certificate parser (the certified key) and the signature check (the CA key).
Every failure, including a point not on the curve, is a :class:`WireError`.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sshgate.ca._wire import WireError, WireReader
from sshgate.ca.keys import PublicKey

__all__ = ["CERT_SUFFIX", "ECDSA_CURVES", "PLAIN_KEY_TYPES", "read_public_key"]

CERT_SUFFIX = "-cert-v01@openssh.com"

ECDSA_CURVES: dict[str, ec.EllipticCurve] = {
    "nistp256": ec.SECP256R1(),
    "nistp384": ec.SECP384R1(),
    "nistp521": ec.SECP521R1(),
}
PLAIN_KEY_TYPES = frozenset(
    {"ssh-ed25519", "ssh-rsa", *(f"ecdsa-sha2-{curve}" for curve in ECDSA_CURVES)}
)
# OpenSSH's own ceiling; larger moduli are refused before any arithmetic on them.
_MAX_RSA_BITS = 16384


def read_public_key(key_type: str, reader: WireReader) -> PublicKey:
    """Read the fields of a ``key_type`` public key (one of PLAIN_KEY_TYPES) from ``reader``."""
    if key_type == "ssh-ed25519":
        raw = reader.string()
        if len(raw) != 32:
            raise WireError("Ed25519 key is not 32 bytes")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if key_type.startswith("ecdsa-sha2-") and key_type in PLAIN_KEY_TYPES:
        curve_name = key_type.removeprefix("ecdsa-sha2-")
        if reader.string() != curve_name.encode("ascii"):
            raise WireError("ECDSA curve does not match the key type")
        return _ec_point(ECDSA_CURVES[curve_name], reader.string())
    if key_type == "ssh-rsa":
        exponent = reader.positive_mpint()
        modulus = reader.positive_mpint()
        if modulus.bit_length() > _MAX_RSA_BITS:
            raise WireError("RSA modulus is too large")
        try:
            return rsa.RSAPublicNumbers(exponent, modulus).public_key()
        except (ValueError, UnsupportedAlgorithm):
            raise WireError("invalid RSA public key") from None
    raise WireError("unsupported key type")


def _ec_point(curve: ec.EllipticCurve, point: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except (ValueError, UnsupportedAlgorithm):
        raise WireError("invalid ECDSA point") from None
