"""Parsing a PRESENTED OpenSSH certificate (PROTOCOL.certkeys) from untrusted bytes.

The parser only reads and reports: it checks the structure strictly (any flaw is a
:class:`CertificateFormatError`) and, when asked (`signature_valid`, computed once on first
use), whether the CA signature verifies with the key the certificate names. Deciding
whether that key is trusted, and every other rule, is the gateway's job, on the plain
values returned here; it asks for the signature only of a trusted signer, so that an
untrusted one costs no signature work.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from functools import cached_property

from sshgate.ca._keyformats import CERT_SUFFIX, PLAIN_KEY_TYPES, read_public_key
from sshgate.ca._signature import acceptable_signer_key, check_signature, peek_type
from sshgate.ca._wire import WireError, WireReader, encode_string
from sshgate.ca.claims import CLAIMS_EXTENSION, Claims, decode_claims
from sshgate.ca.errors import CertificateFormatError, ClaimsError
from sshgate.ca.keys import fingerprint

__all__ = [
    "CERTIFICATE_KEY_TYPES",
    "MAX_CERTIFICATE_BYTES",
    "PresentedCertificate",
    "parse_certificate",
    "parse_certificate_line",
]

MAX_CERTIFICATE_BYTES = 16 * 1024
CERTIFICATE_KEY_TYPES = frozenset(f"{plain}{CERT_SUFFIX}" for plain in PLAIN_KEY_TYPES)
_CERT_TYPES: dict[int, str] = {1: "user", 2: "host"}


@dataclass(frozen=True)
class PresentedCertificate:
    """The fields of a certificate as presented, plus whether its CA signature verifies
    (checked on first use of ``signature_valid``, not when parsing).

    ``critical_options`` and ``extensions`` keep the raw data field of each entry, in wire
    order, duplicates included; :meth:`extension_value` and :meth:`critical_option_value`
    unwrap the SSH string that a non-empty value is.
    """

    key_type: str
    cert_type: str | int
    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: tuple[tuple[str, bytes], ...]
    extensions: tuple[tuple[str, bytes], ...]
    signature_key_blob: bytes
    signature_key_type: str
    subject_key_blob: bytes
    signature_algorithm: str = ""
    blob: bytes = field(default=b"", repr=False)
    signature: bytes = field(default=b"", repr=False)
    signed_length: int = field(default=0, repr=False)

    @cached_property
    def signature_valid(self) -> bool:
        """Whether the CA signature verifies with ``signature_key_blob``: the one costly
        step of checking a certificate, done at most once per certificate."""
        signed = self.blob[: self.signed_length]
        return check_signature(self.signature_key_blob, self.signature, signed).valid

    @property
    def signer_key_acceptable(self) -> bool:
        """Whether the CA key is one sshgate verifies with (RSA: 2048 to 8192 bits, exponent
        65537); cheap, no signature work."""
        return acceptable_signer_key(self.signature_key_blob)

    def extension_value(self, name: str) -> bytes | None:
        """The value of the first extension called ``name`` (b"" for a flag), or None."""
        return _first_value(self.extensions, name)

    def critical_option_value(self, name: str) -> bytes | None:
        """The value of the first critical option called ``name``, or None."""
        return _first_value(self.critical_options, name)

    @property
    def signer_fingerprint(self) -> str:
        """OpenSSH ``SHA256:...`` fingerprint of the signature (CA) key."""
        return fingerprint(self.signature_key_blob)

    @property
    def subject_fingerprint(self) -> str:
        """OpenSSH ``SHA256:...`` fingerprint of the certified key, as ``ssh-keygen -l`` shows."""
        return fingerprint(self.subject_key_blob)

    def claims(self) -> Claims:
        """The ``token-claims@sshgate`` claims; ClaimsError if absent, repeated or invalid."""
        values = [value for name, value in self.extensions if name == CLAIMS_EXTENSION]
        if not values:
            raise ClaimsError(f"certificate has no {CLAIMS_EXTENSION} extension")
        if len(values) > 1:
            raise ClaimsError(f"certificate has {CLAIMS_EXTENSION} more than once")
        return decode_claims(_unwrap(values[0]))


def parse_certificate(blob: bytes) -> PresentedCertificate:
    """Parse a certificate wire blob; CertificateFormatError on any structural flaw."""
    if len(blob) > MAX_CERTIFICATE_BYTES:
        raise CertificateFormatError(f"certificate longer than {MAX_CERTIFICATE_BYTES} bytes")
    try:
        return _parse(bytes(blob))
    except WireError as exc:
        raise CertificateFormatError(f"malformed certificate: {exc}") from None


def parse_certificate_line(line: str) -> PresentedCertificate:
    """Parse ``type base64 [comment]`` text, as in a ``*-cert.pub`` file."""
    fields = line.strip().split(maxsplit=2)
    if len(fields) < 2:
        raise CertificateFormatError("not an OpenSSH certificate line")
    key_type, encoded = fields[0], fields[1]
    if key_type not in CERTIFICATE_KEY_TYPES:
        raise CertificateFormatError(f"unsupported certificate type {key_type[:64]!r}")
    if len(encoded) > (MAX_CERTIFICATE_BYTES + 2) // 3 * 4:
        raise CertificateFormatError(f"certificate longer than {MAX_CERTIFICATE_BYTES} bytes")
    try:
        blob = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CertificateFormatError("certificate is not valid base64") from None
    certificate = parse_certificate(blob)
    if certificate.key_type != key_type:
        raise CertificateFormatError("line type does not match the certificate's type")
    return certificate


def _parse(blob: bytes) -> PresentedCertificate:
    reader = WireReader(blob)
    key_type = reader.text()
    if key_type not in CERTIFICATE_KEY_TYPES:
        raise WireError("unsupported certificate type")
    plain_type = key_type.removesuffix(CERT_SUFFIX)
    reader.string()  # nonce
    key_start = reader.position
    read_public_key(plain_type, reader)
    subject_key_blob = encode_string(plain_type.encode("ascii")) + blob[key_start : reader.position]
    serial = reader.u64()
    raw_cert_type = reader.u32()
    key_id = reader.text()
    principals = _principals(reader.string())
    valid_after = reader.u64()
    valid_before = reader.u64()
    critical_options = _named_values(reader.string())
    extensions = _named_values(reader.string())
    reader.string()  # reserved
    signature_key_blob = reader.string()
    signed_length = reader.position
    signature = reader.string()
    reader.expect_end()
    return PresentedCertificate(
        key_type=key_type,
        cert_type=_CERT_TYPES.get(raw_cert_type, raw_cert_type),
        serial=serial,
        key_id=key_id,
        principals=principals,
        valid_after=valid_after,
        valid_before=valid_before,
        critical_options=critical_options,
        extensions=extensions,
        signature_key_blob=signature_key_blob,
        signature_key_type=peek_type(signature_key_blob),
        subject_key_blob=subject_key_blob,
        signature_algorithm=peek_type(signature),
        blob=blob,
        signature=signature,
        signed_length=signed_length,
    )


def _principals(data: bytes) -> tuple[str, ...]:
    reader = WireReader(data)
    principals: list[str] = []
    while reader.remaining:
        principals.append(reader.text())
    return tuple(principals)


def _named_values(data: bytes) -> tuple[tuple[str, bytes], ...]:
    """Critical options or extensions: (name, data) pairs; data empty or one SSH string."""
    reader = WireReader(data)
    entries: list[tuple[str, bytes]] = []
    while reader.remaining:
        name = reader.text()
        value = reader.string()
        if value:
            inner = WireReader(value)
            inner.string()
            inner.expect_end()
        entries.append((name, value))
    return tuple(entries)


def _first_value(entries: tuple[tuple[str, bytes], ...], name: str) -> bytes | None:
    for entry_name, value in entries:
        if entry_name == name:
            return _unwrap(value)
    return None


def _unwrap(value: bytes) -> bytes:
    # The parser already checked that a non-empty value is exactly one SSH string.
    return WireReader(value).string() if value else b""
