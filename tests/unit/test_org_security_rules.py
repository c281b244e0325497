"""The MFA switch's prerequisites and the reminder triage, as tables."""

from __future__ import annotations

import asyncio
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from sshgate.config import MailConfig
from sshgate.demo.sshd import free_port
from sshgate.mail import MailError, send
from sshgate.policy.amr import meets_level, missing_factor
from sshgate.policy.model import ADVANCED_USER_MANAGEMENT, MFALevel, Organization, OrgRole
from sshgate.policy.org_security import may_switch_mfa_required, may_view_security, switch_detail
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


PR = MFALevel.PHISHING_RESISTANT


@pytest.mark.parametrize(
    ("role", "has_mfa", "has_key", "level", "turn_on", "refusal"),
    [
        (OrgRole.OWNER, True, True, PR, True, None),
        (OrgRole.OWNER, True, False, PR, True, "switcher-key"),
        (OrgRole.OWNER, True, False, MFALevel.ANY, True, None),
        (OrgRole.OWNER, False, False, PR, True, "switcher-mfa"),  # the first missing one
        (OrgRole.MEMBER, True, True, PR, True, "role"),
        (OrgRole.ADMIN, False, False, PR, False, None),  # off needs only the role
    ],
    ids=[
        "owner-signed-in-with-key",
        "owner-signed-in-with-code-cannot-choose-phishing-resistant",
        "owner-signed-in-with-code-may-choose-any",
        "no-mfa-named-before-key",
        "member-never",
        "switching-off-needs-no-key",
    ],
)
def test_switch_to_phishing_resistant_needs_the_switchers_key(
    role: OrgRole,
    has_mfa: bool,
    has_key: bool,
    level: MFALevel,
    turn_on: bool,
    refusal: str | None,
) -> None:
    result = may_switch_mfa_required(WITH_ADDON, role, has_mfa, turn_on, level, has_key)
    assert (result.rule if result else None) == refusal


@pytest.mark.parametrize(
    ("required", "level", "has_mfa", "has_key", "missing"),
    [
        (False, MFALevel.ANY, False, False, None),
        (False, PR, False, False, None),
        (True, MFALevel.ANY, False, False, "mfa"),
        (True, MFALevel.ANY, True, False, None),
        (True, PR, False, False, "mfa"),
        (True, PR, True, False, "hwk"),
        (True, PR, True, True, None),
    ],
    ids=[
        "open-org",
        "level-without-requirement",
        "any-without-mfa",
        "any-with-code",
        "key-level-without-mfa-asks-mfa-first",
        "key-level-with-code-asks-key",
        "key-level-with-key",
    ],
)
def test_missing_factor(
    required: bool, level: MFALevel, has_mfa: bool, has_key: bool, missing: str | None
) -> None:
    org = Organization("acme", required, mfa_level=level)
    assert missing_factor(org, has_mfa, has_key) == missing


@pytest.mark.parametrize(
    ("before", "after", "detail"),
    [
        ((False, MFALevel.ANY), (True, MFALevel.ANY), "off->on"),
        ((True, MFALevel.ANY), (True, PR), "on->on:phishing-resistant"),
        ((True, PR), (False, MFALevel.ANY), "on:phishing-resistant->off"),
    ],
)
def test_switch_detail_names_the_level(
    before: tuple[bool, MFALevel], after: tuple[bool, MFALevel], detail: str
) -> None:
    assert switch_detail(before[0], after[0], before[1], after[1]) == detail


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


def test_a_reminder_of_a_phishing_resistant_org_asks_for_a_key() -> None:
    message = reminder_email("acme", "bob", "b@x", "s@x", "alice", "http://localhost:8022", PR)
    body = message.get_content()
    assert message["Subject"] == "acme asks you to add a security key or passkey"
    assert "Add security key or passkey" in body and "sshgate login --web" in body
    assert "http://localhost:8022" in body and "sshgate mfa setup" not in body


@pytest.mark.parametrize(
    ("mfa", "factors", "level", "meets"),
    [
        (True, ("totp",), MFALevel.ANY, True),
        (True, ("totp",), PR, False),
        (True, ("totp", "webauthn"), PR, True),
        (False, (), MFALevel.ANY, False),
    ],
    ids=["app-meets-any", "app-alone-gets-reminded-at-key-level", "key-meets-key-level", "none"],
)
def test_who_needs_a_reminder_depends_on_the_level(
    mfa: bool, factors: tuple[str, ...], level: MFALevel, meets: bool
) -> None:
    assert meets_level(mfa, factors, level) is meets
