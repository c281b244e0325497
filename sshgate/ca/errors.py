"""The one exception hierarchy of the CA package.

Messages name paths, modes and reasons, never key material or token contents.
"""

from __future__ import annotations

__all__ = [
    "CAError",
    "CertificateFormatError",
    "ClaimsError",
    "KeyFileError",
    "KeyRejected",
    "TTLRefused",
]


class CAError(Exception):
    """Base class of every error raised by ``sshgate.ca``."""


class KeyFileError(CAError):
    """Raised when a CA key file is missing, unreadable, not an Ed25519 OpenSSH key,
    readable by group or others, or would be overwritten, when a key folder holds no key
    at all, and when the active key was distrusted (`sshgate admin ca distrust`)."""


class ClaimsError(CAError):
    """Raised when the ``token-claims@sshgate`` value is missing, duplicated or invalid
    (not a small JSON object of the expected shape), or when claims to encode are invalid."""


class CertificateFormatError(CAError):
    """Raised when a presented certificate blob or line cannot be parsed: truncated,
    oversized, trailing data, bad encoding, or a key type that is not supported."""


class KeyRejected(CAError):
    """Raised when a public key is not acceptable for a user certificate: not Ed25519,
    ECDSA (P-256/384/521) or RSA of at least 3072 bits, malformed, or itself a certificate."""


class TTLRefused(CAError):
    """Raised when a requested certificate lifetime is not positive or exceeds the maximum."""
