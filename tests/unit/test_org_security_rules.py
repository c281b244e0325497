"""The MFA switch's prerequisites and the reminder triage, as tables."""

from __future__ import annotations

import asyncio
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from sshgate.config import MailConfig
from sshgate.demo.sshd import free_port
from sshgate.mail import MailError, send
from sshgate.policy.model import ADVANCED_USER_MANAGEMENT, Organization, OrgRole
from sshgate.policy.org_security import may_switch_mfa_required, may_view_security
from sshgate.policy.reminders import REMIND_INTERVAL, Outcome, Recipient, reminder_email, triage

WITH_ADDON = Organization("acme", addons=frozenset({ADVANCED_USER_MANAGEMENT}))
WITHOUT_ADDON = Organization("acme")


@pytest.mark.parametrize(
    ("org", "role", "has_mfa", "turn_on", "refusal"),
    [
        (WITH_ADDON, OrgRole.OWNER, True, True, None),
        (WITH_ADDON, OrgRole.ADMIN, True, True, None),
        (WITH_ADDON, OrgRole.MEMBER, True, True, "role"),
        (WITH_ADDON, None, True, True, "role"),
        (WITHOUT_ADDON, OrgRole.OWNER, True, True, "addon"),
        (WITH_ADDON, OrgRole.OWNER, False, True, "switcher-mfa"),
        (WITHOUT_ADDON, OrgRole.MEMBER, False, True, "role"),  # the first missing one is named
        (WITHOUT_ADDON, OrgRole.OWNER, False, True, "addon"),
        (WITHOUT_ADDON, OrgRole.ADMIN, False, False, None),  # switching off needs only the role
        (WITH_ADDON, OrgRole.MEMBER, True, False, "role"),
    ],
)
def test_switch_prerequisites(
    org: Organization, role: OrgRole | None, has_mfa: bool, turn_on: bool, refusal: str | None
) -> None:
    result = may_switch_mfa_required(org, role, has_mfa, turn_on)
    assert (result.rule if result else None) == refusal
    if result:
        assert "acme" in result.message and "\n" not in result.message


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(OrgRole.OWNER, True), (OrgRole.ADMIN, True), (OrgRole.MEMBER, False), (None, False)],
)
def test_security_listing_is_for_owners_and_admins(role: OrgRole | None, allowed: bool) -> None:
    assert may_view_security(role) is allowed


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("recipient", "force", "outcome"),
    [
        (Recipient("bob", "b@x", True, False, None), False, Outcome.SEND),
        (Recipient("bob", "b@x", True, True, None), False, Outcome.HAS_MFA),
        (Recipient("bob", "b@x", True, True, None), True, Outcome.HAS_MFA),
        (Recipient("bob", "b@x", True, False, NOW - 60), False, Outcome.RECENTLY_REMINDED),
        (Recipient("bob", "b@x", True, False, NOW - 60), True, Outcome.SEND),
        (Recipient("bob", "b@x", True, False, NOW - REMIND_INTERVAL), False, Outcome.SEND),
        (Recipient("bob", "b@x", False, False, None), False, Outcome.NOT_A_MEMBER),
    ],
)
def test_reminder_triage(recipient: Recipient, force: bool, outcome: Outcome) -> None:
    assert triage(recipient, NOW, force) is outcome


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


async def test_reminder_email_reaches_a_real_smtp_server() -> None:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = reminder_email(
            "acme",
            "bob",
            "bob@example.com",
            "sshgate@example.com",
            "alice",
            "https://sshgate.example.com",
        )
        await send(MailConfig(host="127.0.0.1", port=port, sender="sshgate@example.com"), message)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    recipients, content = inbox.messages[0]
    assert recipients == ["bob@example.com"]
    body = message_from_bytes(content).get_payload(decode=True).decode()  # type: ignore[union-attr]
    steps = [
        body.index("sshgate mfa setup"),
        body.index("Verify & save"),
        body.index("sshgate login -f"),
    ]
    assert steps == sorted(steps)
    assert "acme" in body


async def test_a_refused_mail_server_is_a_mail_error() -> None:
    message = reminder_email("acme", "bob", "bob@example.com", "s@x", "alice", "http://127.0.0.1")
    with pytest.raises(MailError, match=r"bob@example\.com"):
        await asyncio.wait_for(send(MailConfig(host="127.0.0.1", port=free_port()), message), 30)
