"""Reminding members without MFA: to one user, to several, or to all.

Who gets one is decided by `sshgate.policy.reminders` (members with MFA, users reminded
within the hour unless forced, and non-members are skipped). Each email that goes out is
first claimed in the store, so that two requests (or two API processes) never mail the same
user twice within the hour; the claim becomes the recorded reminder only once the SMTP
server accepted the message, and is dropped when it did not: a failing mail server leaves
no trace of a reminder that was never sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sshgate import mail
from sshgate.accounts import Principal
from sshgate.config import MailConfig
from sshgate.logs import log
from sshgate.policy import (
    CLAIM_TTL,
    MAIL_FAILED,
    NOT_ALLOWED_TO_REMIND,
    REMIND_INTERVAL,
    SKIP_REASONS,
    Organization,
    Outcome,
    Recipient,
    User,
    may_view_security,
    meets_level,
    reminder_email,
    select_recipients,
    triage,
)
from sshgate.services.errors import Forbidden
from sshgate.services.orgs import member_org
from sshgate.store import Store, StoreError

__all__ = ["Reminded", "Reminders"]

# Emails in flight at once for one request: a slow mail server should not make `--all`
# on a large org take members × timeout, nor should one request open hundreds of
# connections to it.
PARALLEL_SENDS = 4

Status = Literal["sent", "skipped", "failed"]


@dataclass(frozen=True)
class _Result:
    username: str
    status: Status
    reason: str = ""


@dataclass
class Reminded:
    """Usernames by what happened, and why for the skipped and failed ones."""

    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


class Reminders:
    def __init__(
        self,
        store: Store,
        mail_config: MailConfig,
        api_url: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._mail = mail_config
        self._api_url = api_url
        self._now = now

    async def remind(
        self,
        principal: Principal,
        name: str,
        usernames: Sequence[str] | None,
        force: bool = False,
    ) -> Reminded:
        """Remind `usernames`, or (None) every member without MFA. Owners and admins only."""
        found = await member_org(self._store, principal, name)
        if not may_view_security(found.role):
            raise Forbidden("role", NOT_ALLOWED_TO_REMIND.format(org=found.org.name))
        org = found.org
        members = await self._store.list_member_security(org.name)
        user_ids = {m.username: m.user_id for m in members}
        recipients = select_recipients(
            {
                m.username: Recipient(
                    m.username,
                    m.email,
                    True,
                    meets_level(m.mfa, m.factors, org.mfa_level),
                    m.last_reminded,
                )
                for m in members
            },
            usernames,
        )
        now = self._now()
        slots = asyncio.Semaphore(PARALLEL_SENDS)

        async def one(recipient: Recipient) -> _Result:
            outcome = triage(recipient, now, force)
            if outcome is not Outcome.SEND:
                return _skipped(org, recipient.username, outcome)
            async with slots:
                return await self._send(
                    org, principal.user, user_ids[recipient.username], recipient, force
                )

        answer = Reminded()
        for result in await asyncio.gather(*(one(r) for r in recipients)):
            getattr(answer, result.status).append(result.username)
            if result.reason:
                answer.reasons[result.username] = result.reason
        return answer

    async def _send(
        self, org: Organization, sender: User, user_id: str, recipient: Recipient, force: bool
    ) -> _Result:
        store = self._store
        message = reminder_email(
            org.name,
            recipient.username,
            recipient.email,
            self._mail.sender,
            sender.username,
            self._api_url,
            org.mfa_level,
        )
        claim = await store.claim_reminder(
            org.name, user_id, sender.id, self._now(), REMIND_INTERVAL, force, CLAIM_TTL
        )
        if claim is None:  # another request reminded them first, or is doing so right now
            return _skipped(org, recipient.username, Outcome.RECENTLY_REMINDED)
        try:
            await mail.send(self._mail, message)
        except mail.MailError as exc:
            await store.release_reminder(claim)
            log(
                "mfa_reminder_failed",
                logging.ERROR,
                org=org.name,
                user_id=user_id,
                error=str(exc),
            )
            return _Result(recipient.username, "failed", MAIL_FAILED)
        try:
            await store.mark_reminder_sent(claim, self._now())
        except StoreError as exc:
            # The email went out; only its record is missing. Say so, and say it was sent.
            log(
                "mfa_reminder_unrecorded",
                logging.ERROR,
                org=org.name,
                user_id=user_id,
                error=str(exc),
            )
        log("mfa_reminder_sent", org=org.name, user_id=user_id, by=sender.id)
        return _Result(recipient.username, "sent")


def _skipped(org: Organization, username: str, outcome: Outcome) -> _Result:
    return _Result(username, "skipped", SKIP_REASONS[outcome].format(org=org.name))
