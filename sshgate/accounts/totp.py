"""TOTP as authenticator apps expect it (RFC 6238): 6 digits, 30-second steps, HMAC-SHA-1,
with one step of clock drift allowed either way.

Pure: the caller passes the time, and gets back the time step a code matched, so that the
store can accept each step at most once (`Store.accept_totp_step`): a code seen over a
shoulder, or replayed from a log, is useless once used.
"""

from __future__ import annotations

import io
import re

import pyotp
import segno

__all__ = [
    "DIGITS",
    "ISSUER",
    "SECRET_BITS",
    "STEP_SECONDS",
    "VALID_WINDOW",
    "code_at",
    "looks_like_totp",
    "matching_step",
    "new_secret",
    "provisioning_uri",
    "qr_svg",
    "terminal_qr",
]

DIGITS = 6
STEP_SECONDS = 30
VALID_WINDOW = 1  # steps accepted before and after the current one
ISSUER = "sshgate"
SECRET_BITS = 160  # RFC 4226's recommendation, and the contract's minimum
_BASE32_CHARS = SECRET_BITS // 5
_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh random secret in base32 (32 characters, 160 bits)."""
    return pyotp.random_base32(_BASE32_CHARS)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def looks_like_totp(code: str) -> bool:
    """Six digits: what an authenticator app shows (anything else may be a recovery code)."""
    return _CODE.fullmatch(code) is not None


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step (Unix time // 30) within ±1 of `at` whose code is `code`, else None.
    pyotp (2.12+: `verify_and_get_timecode`) compares in constant time and returns the
    matched step."""
    if not looks_like_totp(code):
        return None
    try:
        step = _totp(secret).verify_and_get_timecode(code, for_time=at, valid_window=VALID_WINDOW)
    except pyotp.exceptions.OTPVerificationError:
        return None
    # A mismatch raises in pyotp 2.12; accept only a real step number whatever a version does.
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def code_at(secret: str, at: float) -> str:
    """The code for the time `at` (tests, and the demo's scripted users)."""
    return _totp(secret).at(at)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/sshgate:<username>?secret=...&issuer=sshgate`` URI for QR codes."""
    return _totp(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (text), for the API and web pages."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode("utf-8")


def terminal_qr(uri: str) -> str:
    """The URI as a QR code drawn with block characters, for `sshgate mfa setup`."""
    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True)
    return out.getvalue()
