"""POST /api/orgs/{org}/reminders against a real SMTP server (aiosmtpd) on a free loopback
port: who receives what, who is skipped and why, the one-hour rule and --force, and a mail
server that refuses (nothing is recorded for what was not sent)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller

from sshgate.api.context import ApiContext
from sshgate.api.schemas import iso
from sshgate.config import MailConfig
from sshgate.demo.sshd import free_port
from sshgate.policy.org_security import NOT_ALLOWED_TO_REMIND
from sshgate.policy.reminders import REMIND_INTERVAL
from sshgate.services import reminders as reminders_service
from tests.api.conftest import Site, auth
from tests.api.test_api_orgs import Orgs, make_orgs

SENDER = "sshgate@example.com"
API_URL = "https://sshgate.example.com"


class Inbox:
    """An SMTP server's handler: keeps what it accepts; refuses the addresses in `refuse`."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))  # type: ignore[attr-defined]
        return "250 OK"

    def recipients(self) -> list[str]:
        return sorted(address for rcpt, _ in self.messages for address in rcpt)


@pytest.fixture
async def orgs(site: Site) -> Orgs:
    return await make_orgs(site)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()  # returns once the server answers
    try:
        yield handler, port
    finally:
        controller.stop()


def use_mail(orgs: Orgs, port: int) -> None:
    """Point the API's `mail.*` (and the clock it decides the hour with) at the test's."""
    context = orgs.site.app.state.sshgate
    assert isinstance(context, ApiContext)
    config = dataclasses.replace(
        context.config,
        mail=MailConfig(host="127.0.0.1", port=port, sender=SENDER),
        api=dataclasses.replace(context.config.api, public_url=API_URL),
    )
    orgs.site.app.state.sshgate = dataclasses.replace(context, config=config, now=orgs.site.clock)


@pytest.fixture
def mailing(orgs: Orgs, inbox: tuple[Inbox, int]) -> Inbox:
    use_mail(orgs, inbox[1])
    return inbox[0]


async def remind(orgs: Orgs, body: dict[str, object], bearer: str = "") -> httpx.Response:
    return await orgs.site.client.post(
        "/api/orgs/acme/reminders", json=body, headers=auth(bearer or orgs.olga_mfa)
    )


async def result(orgs: Orgs, body: dict[str, object]) -> dict[str, list[str]]:
    response = await remind(orgs, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    return {key: answer[key] for key in ("sent", "skipped", "failed")}


async def last_reminded(orgs: Orgs) -> dict[str, str | None]:
    listing = await orgs.site.client.get("/api/orgs/acme/security", headers=auth(orgs.olga_mfa))
    return {i["username"]: i["last_reminded"] for i in listing.json()["items"]}


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_a_reminder_to_one_user_reaches_them_with_the_steps(
    orgs: Orgs, mailing: Inbox
) -> None:
    assert await result(orgs, {"users": ["bob"]}) == {"sent": ["bob"], "skipped": [], "failed": []}
    [(recipients, message)] = mailing.messages
    assert recipients == ["bob@example.com"]
    assert message["To"] == "bob@example.com" and message["From"] == SENDER
    assert "acme" in message["Subject"] and "MFA" in message["Subject"]
    body = text_of(message)
    steps = [
        body.index("sshgate mfa setup"),
        body.index("Verify & save"),
        body.index("sshgate login -f"),
    ]
    assert steps == sorted(steps)
    assert "Hello bob," in body and "olga asks every member of the organization acme" in body
    assert API_URL in body
    reminded = await last_reminded(orgs)
    assert reminded["bob"] == iso(orgs.site.clock()) and reminded["carol"] is None


async def test_reminders_to_several_users_skip_those_with_mfa_and_non_members(
    orgs: Orgs, mailing: Inbox
) -> None:
    users = ["bob", "carol", "dave", "eve", "nobody-at-all", "bob"]
    response = await remind(orgs, {"users": users})
    answer = response.json()
    assert (answer["sent"], answer["skipped"], answer["failed"]) == (
        ["bob", "carol"],
        ["dave", "eve", "nobody-at-all"],
        [],
    )
    assert answer["reasons"] == {
        "dave": "has MFA already",
        "eve": "not a member of acme",
        "nobody-at-all": "not a member of acme",  # the same as a real user's: nothing to probe
    }
    assert mailing.recipients() == ["bob@example.com", "carol@example.com"]


async def test_a_reminder_to_all_reaches_every_member_without_mfa(
    orgs: Orgs, mailing: Inbox
) -> None:
    assert await result(orgs, {"all": True}) == {
        "sent": ["adam", "bob", "carol"],
        "skipped": ["dave", "olga"],
        "failed": [],
    }
    assert mailing.recipients() == ["adam@example.com", "bob@example.com", "carol@example.com"]
    reminded = await last_reminded(orgs)
    assert reminded["dave"] is None and reminded["olga"] is None
    assert reminded["adam"] == reminded["bob"] == reminded["carol"] == iso(orgs.site.clock())


async def test_one_reminder_per_hour_unless_forced(orgs: Orgs, mailing: Inbox) -> None:
    clock = orgs.site.clock
    assert (await result(orgs, {"users": ["bob"]}))["sent"] == ["bob"]
    first = clock()
    clock.now += REMIND_INTERVAL - 1
    again = await remind(orgs, {"users": ["bob", "carol"]})
    assert again.json()["sent"] == ["carol"] and again.json()["skipped"] == ["bob"]
    assert "less than an hour ago" in again.json()["reasons"]["bob"]
    assert (await last_reminded(orgs))["bob"] == iso(first)

    forced = await result(orgs, {"users": ["bob"], "force": True})
    assert forced["sent"] == ["bob"]
    assert (await last_reminded(orgs))["bob"] == iso(clock())

    clock.now += REMIND_INTERVAL
    assert (await result(orgs, {"all": True}))["sent"] == ["adam", "bob", "carol"]
    assert mailing.recipients().count("bob@example.com") == 3


async def test_a_refused_mail_server_fails_the_recipients_and_records_nothing(
    orgs: Orgs, inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[tuple[str, int, dict[str, object]]] = []
    monkeypatch.setattr(
        reminders_service, "log", lambda event, level=20, **f: logged.append((event, level, f))
    )
    use_mail(orgs, free_port())  # nothing listens there
    response = await remind(orgs, {"users": ["bob", "dave"]})
    assert response.status_code == 200
    answer = response.json()
    assert (answer["sent"], answer["skipped"], answer["failed"]) == ([], ["dave"], ["bob"])
    # The owner learns that it failed; the SMTP error is the operator's, in the log.
    assert answer["reasons"]["bob"] == "could not send the email; the operator has the details"
    ((_event, level, fields),) = [entry for entry in logged if entry[0] == "mfa_reminder_failed"]
    assert level == logging.ERROR and "bob@example.com" in str(fields["error"])
    assert await orgs.site.store.last_reminders("acme") == {}
    assert (await last_reminded(orgs))["bob"] is None

    use_mail(orgs, inbox[1])  # the server is back: the failure did not use up the hour
    assert (await result(orgs, {"users": ["bob"]}))["sent"] == ["bob"]
    assert inbox[0].recipients() == ["bob@example.com"]


async def test_a_recipient_refused_by_the_server_fails_alone(orgs: Orgs, mailing: Inbox) -> None:
    mailing.refuse.add("carol@example.com")
    assert await result(orgs, {"users": ["bob", "carol"]}) == {
        "sent": ["bob"],
        "skipped": [],
        "failed": ["carol"],
    }
    assert mailing.recipients() == ["bob@example.com"]
    assert set(await orgs.site.store.last_reminders("acme")) == {orgs.ids["bob"]}


async def test_concurrent_requests_mail_a_user_once(orgs: Orgs, mailing: Inbox) -> None:
    answers = await asyncio.gather(*(remind(orgs, {"users": ["bob"]}) for _ in range(4)))
    sent = [a.json()["sent"] for a in answers]
    assert sent.count(["bob"]) == 1 and sent.count([]) == 3
    assert mailing.recipients() == ["bob@example.com"]


async def test_a_plain_member_may_not_send_reminders(orgs: Orgs, mailing: Inbox) -> None:
    response = await remind(orgs, {"all": True}, await orgs.login("bob"))
    assert response.status_code == 403
    assert response.json()["message"] == NOT_ALLOWED_TO_REMIND.format(org="acme")
    assert mailing.messages == []


@pytest.mark.parametrize(
    "body",
    [{}, {"users": []}, {"all": True, "users": ["bob"]}, {"all": False}, {"users": "bob"}],
    ids=["nothing", "no-users", "both", "all-false", "not-a-list"],
)
async def test_a_request_names_users_or_all(
    orgs: Orgs, mailing: Inbox, body: dict[str, object]
) -> None:
    response = await remind(orgs, body)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert mailing.messages == []
