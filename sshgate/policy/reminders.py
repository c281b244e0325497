"""MFA reminders: who gets one, and what it says. Pure; sending is sshgate.mail's job."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from sshgate.policy.model import MFALevel

REMIND_INTERVAL = 3600  # one reminder per user per hour, unless forced
# A claimed reminder that was neither marked sent nor released within this long (its sender
# died mid-send) stops keeping others from reminding the same user.
CLAIM_TTL = 300


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


# What the org owner is told when the mail server failed; the SMTP error itself, which may
# name the operator's mail setup, goes to the operator's log only.
MAIL_FAILED = "could not send the email; the operator has the details"

SKIP_REASONS = {
    Outcome.HAS_MFA: "has MFA already",
    Outcome.RECENTLY_REMINDED: "reminded less than an hour ago (--force sends anyway)",
    Outcome.NOT_A_MEMBER: "not a member of {org}",
}


def select_recipients(
    members: Mapping[str, Recipient], usernames: Sequence[str] | None
) -> list[Recipient]:
    """Who a reminder request is about: every member (`usernames` None, i.e. `--all`), or
    the named users once each, in the order given; a name that is no member (or no user at
    all: the answer is the same, so it reveals nothing) becomes a non-member recipient."""
    if usernames is None:
        return [members[name] for name in sorted(members)]
    chosen: list[Recipient] = []
    for name in dict.fromkeys(usernames):
        chosen.append(members.get(name) or Recipient(name, "", False, False, None))
    return chosen


_KEY_STEPS = """Hello {username},

{requested_by} asks every member of the organization {org} to sign in with a security key
or passkey. {org} requires phishing-resistant multifactor authentication: ssh and git access
to its projects needs a certificate from a sign-in with a key; an authenticator app code
does not count.

1. Sign in to the sshgate Console ({api_url}) and open My profile, Authentication Settings.
2. Add security key or passkey, and follow your browser.
3. Refresh your credentials with a sign-in through the browser, using the key:

       sshgate login --web

"""


def reminder_email(
    org: str,
    username: str,
    to: str,
    sender: str,
    requested_by: str,
    api_url: str,
    level: MFALevel = MFALevel.ANY,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if level is MFALevel.PHISHING_RESISTANT:
        message["Subject"] = f"{org} asks you to add a security key or passkey"
        message.set_content(
            _KEY_STEPS.format(
                username=username, requested_by=requested_by, org=org, api_url=api_url
            )
        )
        return message
    message["Subject"] = f"{org} asks you to enable multifactor authentication (MFA)"
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
