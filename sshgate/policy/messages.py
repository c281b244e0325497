"""The texts users see when the gateway refuses. Byte for byte as the README and
docs/reference/certificates.md document them."""

from __future__ import annotations

SERVICE_DISPLAY_LIMIT = 128

NO_ACCESS_LINES = ("Error: The service doesn't exist or you do not have access to it.",)
MFA_LINES = ("Error: Access denied",)
MFA_DETAIL_LINES = (
    'Parameters: {"amr":["mfa"]}',
    "Detail: Additional authentication is required:",
    "\t - Multifactor authentication (MFA)",
    "Hint: enable MFA (sshgate mfa setup), then refresh your certificate: sshgate login -f",
)

KEY_DETAIL_LINES = (
    'Parameters: {"amr":["hwk"]}',
    "Detail: Additional authentication is required:",
    "\t - Phishing-resistant multifactor authentication (security key or passkey)",
)

EXPIRED_BANNER = "sshgate: your SSH certificate expired at {when}; run: sshgate login -f"
REVOKED_BANNER = "sshgate: your SSH certificate was revoked; run: sshgate login -f"
DRAINING = "sshgate: the gateway is restarting; reconnect"


def display_service(requested: str) -> str:
    """Escape anything outside printable ASCII, then cut at 128 characters."""
    out = []
    for char in requested:
        code = ord(char)
        if 0x20 <= code < 0x7F:
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)[:SERVICE_DISPLAY_LIMIT]


def _identity_lines(service: str, username: str, user_id: str) -> tuple[str, str]:
    return f"Service: {display_service(service)}", f"User: {username} ({user_id})"


def no_access_message(service: str, username: str, user_id: str) -> tuple[str, ...]:
    return (*NO_ACCESS_LINES, *_identity_lines(service, username, user_id))


def mfa_required_message(service: str, username: str, user_id: str) -> tuple[str, ...]:
    return (*MFA_LINES, *_identity_lines(service, username, user_id), *MFA_DETAIL_LINES)


def key_required_message(service: str, username: str, user_id: str) -> tuple[str, ...]:
    """The MFA message of an org at level phishing-resistant: its detail line is the last."""
    return (*MFA_LINES, *_identity_lines(service, username, user_id), *KEY_DETAIL_LINES)


def render(lines: tuple[str, ...], pty: bool) -> bytes:
    """Join lines with the line end a terminal expects; the message ends with a line end."""
    end = "\r\n" if pty else "\n"
    return "".join(line + end for line in lines).encode("utf-8")
