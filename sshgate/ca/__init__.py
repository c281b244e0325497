"""The certificate codec and signer: keys, claims, issuing and parsing user certificates,
and which CA keys are trusted.

Local: no store, no network (the CA as a service, which records what it signs in the
store, is `sshgate.authority`). The gateway uses only the parsing half
(:func:`parse_certificate`, :class:`PresentedCertificate`, :func:`decode_claims`), the
trust rule (:func:`trusted_fingerprints`) and the ``.pub`` files of :class:`KeyDir`;
signing needs the private keys that only the CA holds.
"""

from sshgate.ca.certificate import (
    CERTIFICATE_KEY_TYPES,
    MAX_CERTIFICATE_BYTES,
    PresentedCertificate,
    parse_certificate,
    parse_certificate_line,
)
from sshgate.ca.claims import (
    CLAIMS_EXTENSION,
    MAX_CLAIMS_BYTES,
    MFA_EXTENSION,
    Claims,
    decode_claims,
    encode_claims,
)
from sshgate.ca.errors import (
    CAError,
    CertificateFormatError,
    ClaimsError,
    KeyFileError,
    KeyRejected,
    TTLRefused,
)
from sshgate.ca.issuer import (
    IssueRequest,
    Permissions,
    cap_ttl,
    check_user_public_key,
    issue_certificate,
    resolve_ttl,
)
from sshgate.ca.keys import (
    KeyDir,
    PublicKey,
    fingerprint,
    generate_ed25519_key_file,
    load_private_key,
    public_key_line,
)
from sshgate.ca.trust import (
    Signers,
    SigningKeyPeriod,
    read_key_lines,
    signers,
    trusted_fingerprints,
)

__all__ = [
    "CERTIFICATE_KEY_TYPES",
    "CLAIMS_EXTENSION",
    "MAX_CERTIFICATE_BYTES",
    "MAX_CLAIMS_BYTES",
    "MFA_EXTENSION",
    "CAError",
    "CertificateFormatError",
    "Claims",
    "ClaimsError",
    "IssueRequest",
    "KeyDir",
    "KeyFileError",
    "KeyRejected",
    "Permissions",
    "PresentedCertificate",
    "PublicKey",
    "Signers",
    "SigningKeyPeriod",
    "TTLRefused",
    "cap_ttl",
    "check_user_public_key",
    "decode_claims",
    "encode_claims",
    "fingerprint",
    "generate_ed25519_key_file",
    "issue_certificate",
    "load_private_key",
    "parse_certificate",
    "parse_certificate_line",
    "public_key_line",
    "read_key_lines",
    "resolve_ttl",
    "signers",
    "trusted_fingerprints",
]
