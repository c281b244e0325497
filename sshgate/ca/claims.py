"""The claims codec: the compact JSON carried in the ``token-claims@sshgate`` extension.

Pure functions over a frozen dataclass. The CA encodes what the login behind a
certificate proved; the gateway decodes it from untrusted input, so decoding is
strict and every refusal is a :class:`ClaimsError` with a short reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sshgate.ca.errors import ClaimsError

__all__ = [
    "CLAIMS_EXTENSION",
    "MAX_AMR_ENTRIES",
    "MAX_CLAIMS_BYTES",
    "MFA_EXTENSION",
    "Claims",
    "decode_claims",
    "encode_claims",
]

CLAIMS_EXTENSION = "token-claims@sshgate"
MFA_EXTENSION = "has-mfa@sshgate"

MAX_CLAIMS_BYTES = 4096
MAX_AMR_ENTRIES = 8
# RFC 8176 method names ("pwd", "mfa", "otp", ...) fit this; anything else is refused so that
# an amr value can be logged and compared without escaping.
_AMR_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
# Unix seconds as a signed 64-bit value, which is what every consumer stores.
_MAX_AUTH_TIME = 2**63 - 1


@dataclass(frozen=True)
class Claims:
    """What the login (or API token) behind a certificate proved."""

    sub: str
    amr: tuple[str, ...]
    auth_time: int
    jti: str

    @property
    def has_mfa(self) -> bool:
        return "mfa" in self.amr


def encode_claims(claims: Claims) -> bytes:
    """Compact JSON with the keys ``sub``, ``amr``, ``auth_time``, ``jti`` in that order.

    Refuses (ClaimsError) claims that :func:`decode_claims` would refuse, so the CA never
    signs a value that the gateway cannot read.
    """
    _check_fields(claims.sub, list(claims.amr), claims.auth_time, claims.jti)
    document = {
        "sub": claims.sub,
        "amr": list(claims.amr),
        "auth_time": claims.auth_time,
        "jti": claims.jti,
    }
    data = json.dumps(document, separators=(",", ":")).encode("ascii")
    if len(data) > MAX_CLAIMS_BYTES:
        raise ClaimsError(f"claims longer than {MAX_CLAIMS_BYTES} bytes")
    return data


def decode_claims(data: bytes) -> Claims:
    """Parse claims from untrusted bytes; unknown extra keys are ignored."""
    if len(data) > MAX_CLAIMS_BYTES:
        raise ClaimsError(f"claims longer than {MAX_CLAIMS_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ClaimsError("claims are not UTF-8") from None
    try:
        document = json.loads(
            text, object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError):
        # json.JSONDecodeError is a ValueError, and so are the refusals of the hooks.
        raise ClaimsError("claims are not valid JSON") from None
    if not isinstance(document, dict):
        raise ClaimsError("claims are not a JSON object")
    for key in ("sub", "amr", "auth_time", "jti"):
        if key not in document:
            raise ClaimsError(f"claims lack {key!r}")
    sub, amr, auth_time, jti = (document[k] for k in ("sub", "amr", "auth_time", "jti"))
    _check_fields(sub, amr, auth_time, jti)
    return Claims(sub=sub, amr=tuple(amr), auth_time=auth_time, jti=jti)


def _check_fields(sub: Any, amr: Any, auth_time: Any, jti: Any) -> None:
    if not isinstance(sub, str) or not sub:
        raise ClaimsError("claim 'sub' is not a non-empty string")
    if not isinstance(amr, list):
        raise ClaimsError("claim 'amr' is not a list")
    if len(amr) > MAX_AMR_ENTRIES:
        raise ClaimsError(f"claim 'amr' has more than {MAX_AMR_ENTRIES} entries")
    for value in amr:
        if not isinstance(value, str) or not _AMR_VALUE.fullmatch(value):
            raise ClaimsError("claim 'amr' holds a value that is not a short method name")
    # bool is a subclass of int: true must not read as 1.
    if isinstance(auth_time, bool) or not isinstance(auth_time, int):
        raise ClaimsError("claim 'auth_time' is not an integer")
    if not 0 <= auth_time <= _MAX_AUTH_TIME:
        raise ClaimsError("claim 'auth_time' is out of range")
    if not isinstance(jti, str):
        raise ClaimsError("claim 'jti' is not a string")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of duplicate keys; a reader that keeps the first would
    # see other claims, so duplicates are refused outright.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
