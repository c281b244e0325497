"""The sign-in ticket: what a two-step sign-in (the Console's password page, then its
Authentication code page) carries from the first step to the second, instead of the
password. It says "this user's password was verified at T", sealed with the secrets key
(AES-GCM: nobody can make or alter one), and is good for `TICKET_TTL` seconds. Pure."""

from __future__ import annotations

import base64
import binascii
import json

from sshgate.accounts.errors import SecretsKeyError
from sshgate.accounts.secretbox import SecretBox

__all__ = ["TICKET_TTL", "open_ticket", "seal_ticket"]

TICKET_TTL = 300
_PURPOSE = "sign-in-ticket"
MAX_TICKET_CHARS = 512


def seal_ticket(box: SecretBox, user_id: str, now: float) -> str:
    body = json.dumps({"u": user_id, "t": int(now)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(box.seal(body, _PURPOSE)).decode("ascii")


def open_ticket(box: SecretBox, ticket: str, now: float) -> tuple[str, int] | None:
    """(user id, time of the password check), or None for a ticket that is malformed,
    forged or older than TICKET_TTL."""
    if not ticket or len(ticket) > MAX_TICKET_CHARS:
        return None
    try:
        body = json.loads(box.open(base64.urlsafe_b64decode(ticket.encode("ascii")), _PURPOSE))
        user_id, at = str(body["u"]), int(body["t"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError, SecretsKeyError):
        return None
    if not 0 <= now - at <= TICKET_TTL:
        return None
    return user_id, at
