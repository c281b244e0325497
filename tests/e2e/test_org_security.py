"""An organization owner's story through the real `sshgate` CLI against a real deployment,
in the README's order: enable MFA on your own account first, check who has MFA, switch
"MFA required" on, send reminders (received by a real SMTP server, aiosmtpd)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from sshgate.demo.sshd import free_port
from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.e2e.test_login_flow import User, code_after

pytestmark = pytest.mark.e2e

MFA_MESSAGE = (
    "Multifactor authentication (MFA) is required. "
    "The API token may need to be re-created after enabling MFA."
)
SECURITY_KEYS = {"username", "email", "role", "mfa", "factors", "mfa_since", "last_reminded"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        rcpt = list(envelope.rcpt_tos)  # type: ignore[attr-defined]
        self.messages.append((rcpt, message_from_bytes(content)))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """The text of every message delivered to `address`."""
        found = []
        for rcpt, message in self.messages:
            if address in rcpt:
                payload = message.get_payload(decode=True)
                assert isinstance(payload, bytes)
                found.append(payload.decode())
        return found


@dataclass
class World:
    d: Deployment
    smtp: Controller
    inbox: Inbox
    people: Path
    mail_up: bool = True

    def stop_mail(self) -> None:
        if self.mail_up:
            self.mail_up = False
            self.smtp.stop()


def start_mail_deployment(root: Path) -> tuple[Deployment, Controller, Inbox]:
    """A deployment whose `mail.*` points at a real SMTP server (aiosmtpd) with an inbox;
    the caller stops all three."""
    inbox = Inbox()
    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    mail = {
        "SSHGATE_MAIL_HOST": "127.0.0.1",
        "SSHGATE_MAIL_PORT": str(smtp_port),
        "SSHGATE_MAIL_FROM": "sshgate@example.com",
    }
    try:
        return start_deployment(root, mail), smtp, inbox
    except BaseException:
        smtp.stop()
        raise


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d, smtp, inbox = start_mail_deployment(tmp_path_factory.mktemp("orgsec"))
    mailing = World(d, smtp, inbox, tmp_path_factory.mktemp("people"))
    try:
        created = d.admin(
            "user", "add", "olga", "--email", "olga@example.com", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        d.users["olga"] = str(created["id"])
        d.admin("org", "add", "globex", "--addon", "advanced-user-management")
        d.admin("org", "member", "globex", "olga", "--role", "owner")
        for name in ("bob", "carol"):
            d.admin("org", "member", "globex", name, "--role", "member")
        yield mailing
    finally:
        d.server.stop()
        d.env.stop()
        mailing.stop_mail()


def out(result: object) -> dict[str, object]:
    """The one JSON line of a command that succeeded."""
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    lines = result.stdout.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_an_owner_enables_mfa_checks_who_has_it_switches_it_on_and_reminds(world: World) -> None:
    d, inbox = world.d, world.inbox
    olga = User(d, "olga", world.people)
    olga.json("login", "--user", "olga", "--password-stdin", stdin=PASSWORD + "\n")

    # Without MFA on her own account, the switch says what is missing.
    refused = olga.sshgate("org", "mfa-required", "globex", "on")
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1
    assert "enable MFA on your own account first" in refused.stderr

    # 1. Enable MFA on your own account first, then log in again with it.
    setup = olga.json("mfa", "setup")
    used: set[int] = set()
    assert olga.json("mfa", "verify", code_after(setup["secret"], used))["mfa"] is True
    relogin = olga.json(
        "login", "-f", "--password-stdin", "--totp", code_after(setup["secret"], used),
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert relogin["amr"] == ["pwd", "otp", "mfa"]

    # 2. Check who has MFA.
    items = out(olga.sshgate("org", "security", "globex", "--json"))["items"]
    assert isinstance(items, list)
    assert all(set(item) == SECURITY_KEYS for item in items)
    mfa = {item["username"]: item["mfa"] for item in items}
    assert mfa == {"bob": False, "carol": False, "olga": True}
    assert {item["username"]: item["factors"] for item in items}["olga"] == ["totp"]
    table = olga.sshgate("org", "security", "globex")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "USER", "EMAIL", "ROLE", "MFA", "FACTORS", "MFA", "SINCE", "LAST", "REMINDED",
    ]  # fmt: skip
    assert "2 of 3 members without MFA" in table.stdout

    # 3. Switch "MFA required" on.
    switched = out(olga.sshgate("org", "mfa-required", "globex", "on", "--json"))
    assert switched == {
        "org": "globex",
        "mfa_required": True,
        "mfa_level": "any",
        "sessions_to_close": 0,
    }
    again = olga.sshgate("org", "mfa-required", "globex", "on")
    assert again.returncode == 0
    assert "0 open sessions of users without MFA will be closed" in again.stdout

    # 4. Send reminders: to all members without MFA, then once more (within the hour).
    reminded = out(olga.sshgate("org", "remind", "globex", "--all", "--json"))
    assert reminded == {"sent": ["bob", "carol"], "skipped": ["olga"], "failed": []}
    for name in ("bob", "carol"):
        [body] = inbox.to(f"{name}@example.com")
        assert "globex" in body and "sshgate mfa setup" in body and "sshgate login -f" in body
    assert inbox.to("olga@example.com") == []
    second = out(olga.sshgate("org", "remind", "globex", "--user", "bob", "--json"))
    assert second == {"sent": [], "skipped": ["bob"], "failed": []}
    listed = out(olga.sshgate("org", "security", "globex", "--json"))["items"]
    assert isinstance(listed, list)
    assert [i["last_reminded"] is not None for i in listed] == [True, True, False]

    # A member without MFA meets the step-up message, as the one line on stderr.
    bob = User(d, "bob", world.people)
    bob.json("login", "--user", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    step_up = bob.sshgate("org", "security", "globex")
    assert (step_up.returncode, step_up.stdout, step_up.stderr) == (1, "", MFA_MESSAGE + "\n")

    # The mail server goes away: the result is still printed, and the exit status is 1.
    world.stop_mail()
    failed = olga.sshgate("org", "remind", "globex", "--user", "carol", "--force", "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout) == {"sent": [], "skipped": [], "failed": ["carol"]}
    assert len(failed.stderr.splitlines()) == 1 and "carol" in failed.stderr

    records = d.admin("audit", "--since", "10m")["items"]
    assert isinstance(records, list)
    switches = [r for r in records if r["kind"] == "org:mfa-required" and r["service"] == "globex"]
    assert [(r["decision"], r["reason"], r["detail"]) for r in switches] == [
        ("deny", "switcher-mfa", "off->on"),
        ("admin", "org-mfa-required", "off->on"),
        ("admin", "org-mfa-required", "on->on"),
    ]
    assert {r["user_id"] for r in switches} == {d.users["olga"]}
