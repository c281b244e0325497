"""POST /api/orgs/{org}/reminders: email members without MFA the steps to enable it.

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
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter

from sshgate import mail
from sshgate.api.context import ApiContext, Context, CurrentPrincipal
from sshgate.api.orgs import ERRORS, caller_org, forbidden
from sshgate.api.schemas import RemindRequest, RemindResponse
from sshgate.logs import log
from sshgate.policy.model import Organization, User
from sshgate.policy.org_security import NOT_ALLOWED_TO_REMIND, may_view_security
from sshgate.policy.reminders import (
    CLAIM_TTL,
    REMIND_INTERVAL,
    SKIP_REASONS,
    Outcome,
    Recipient,
    reminder_email,
    select_recipients,
    triage,
)
from sshgate.store.base import StoreError

__all__ = ["router"]

router = APIRouter(prefix="/api/orgs", tags=["orgs"])
# Emails in flight at once for one request: a slow mail server should not make `--all`
# on a large org take members × timeout, nor should one request open hundreds of
# connections to it.
PARALLEL_SENDS = 4


@dataclass(frozen=True)
class Result:
    username: str
    status: Literal["sent", "skipped", "failed"]
    reason: str = ""


def _skipped(org: Organization, username: str, outcome: Outcome) -> Result:
    return Result(username, "skipped", SKIP_REASONS[outcome].format(org=org.name))


@router.post("/{org}/reminders", response_model=RemindResponse, responses=ERRORS)
async def remind(
    org: str, body: RemindRequest, principal: CurrentPrincipal, context: Context
) -> RemindResponse:
    """Remind `users` (usernames), or `all` members without MFA. The answer lists usernames
    as sent, skipped (has MFA, reminded within the hour unless `force`, not a member) or
    failed (the mail server refused or could not be reached), with a reason for each of the
    last two. Owners and admins only."""
    found, role = await caller_org(context, principal, org)
    if not may_view_security(role):
        raise forbidden(NOT_ALLOWED_TO_REMIND.format(org=found.name), "role")
    members = await context.store.list_member_security(found.name)
    user_ids = {m.username: m.user_id for m in members}
    recipients = select_recipients(
        {m.username: Recipient(m.username, m.email, True, m.mfa, m.last_reminded) for m in members},
        None if body.all else body.users,
    )
    now = context.now()
    slots = asyncio.Semaphore(PARALLEL_SENDS)

    async def one(recipient: Recipient) -> Result:
        outcome = triage(recipient, now, body.force)
        if outcome is not Outcome.SEND:
            return _skipped(found, recipient.username, outcome)
        async with slots:
            return await _send(
                context, found, principal.user, user_ids[recipient.username], recipient, body.force
            )

    results = await asyncio.gather(*(one(r) for r in recipients))
    answer = RemindResponse(sent=[], skipped=[], failed=[], reasons={})
    for result in results:
        getattr(answer, result.status).append(result.username)
        if result.reason:
            answer.reasons[result.username] = result.reason
    return answer


async def _send(
    context: ApiContext,
    org: Organization,
    sender: User,
    user_id: str,
    recipient: Recipient,
    force: bool,
) -> Result:
    config, store = context.config, context.store
    message = reminder_email(
        org.name,
        recipient.username,
        recipient.email,
        config.mail.sender,
        sender.username,
        config.api_public_url,
    )
    claim = await store.claim_reminder(
        org.name, user_id, sender.id, context.now(), REMIND_INTERVAL, force, CLAIM_TTL
    )
    if claim is None:  # another request reminded them first, or is doing so right now
        return _skipped(org, recipient.username, Outcome.RECENTLY_REMINDED)
    try:
        await mail.send(config.mail, message)
    except mail.MailError as exc:
        await store.release_reminder(claim)
        log("mfa_reminder_failed", logging.WARNING, org=org.name, user_id=user_id, error=str(exc))
        return Result(recipient.username, "failed", str(exc))
    try:
        await store.mark_reminder_sent(claim, context.now())
    except StoreError as exc:
        # The email went out; only its record is missing. Say so, and say it was sent.
        log("mfa_reminder_unrecorded", logging.ERROR, org=org.name, user_id=user_id, error=str(exc))
    log("mfa_reminder_sent", org=org.name, user_id=user_id, by=sender.id)
    return Result(recipient.username, "sent")
