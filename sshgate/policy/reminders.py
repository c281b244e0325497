"""MFA reminders: who gets one, and what it says. Pure; sending is sshgate.mail's job."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from email.message import EmailMessage

REMIND_INTERVAL = 3600  # one reminder per user per hour, unless forced


class Outcome(enum.StrEnum):
    SEND = "send"
    HAS_MFA = "has-mfa"
    RECENTLY_REMINDED = "recently-reminded"
    NOT_A_MEMBER = "not-a-member"


@dataclass(frozen=True)
class Recipient:
    username: str
    email: str
    is_member: bool
    has_mfa: bool
    last_reminded: float | None


def triage(recipient: Recipient, now: float, force: bool) -> Outcome:
    if not recipient.is_member:
        return Outcome.NOT_A_MEMBER
    if recipient.has_mfa:
        return Outcome.HAS_MFA
    if (
        not force
        and recipient.last_reminded is not None
        and now - recipient.last_reminded < REMIND_INTERVAL
    ):
        return Outcome.RECENTLY_REMINDED
    return Outcome.SEND


def reminder_email(
    org: str, username: str, to: str, sender: str, requested_by: str, api_url: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"{org} asks you to enable multifactor authentication (MFA)"
    message["From"] = sender
    message["To"] = to
    message.set_content(
        f"""Hello {username},

{requested_by} asks every member of the organization {org} to enable multifactor
authentication (MFA). Once {org} requires it, ssh and git access to its projects needs a
certificate that proves MFA.

1. Enable MFA on your account: run

       sshgate mfa setup

   and scan the QR code with an authenticator app (or enter the secret it shows).
2. Verify & save: type the 6-digit code the app shows. Keep the recovery codes safe.
3. Refresh your credentials, so that your SSH certificate carries MFA:

       sshgate login -f

The sshgate API for your account: {api_url}
"""
    )
    return message
