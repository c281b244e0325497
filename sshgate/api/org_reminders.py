"""POST /api/orgs/{org}/reminders: email members without MFA the steps to enable it (the
rules: `sshgate.services.Reminders`)."""

from __future__ import annotations

from fastapi import APIRouter

from sshgate.api.context import Context, CurrentPrincipal
from sshgate.api.orgs import ERRORS
from sshgate.api.schemas import RemindRequest, RemindResponse

__all__ = ["router"]

router = APIRouter(prefix="/api/orgs", tags=["orgs"])


@router.post("/{org}/reminders", response_model=RemindResponse, responses=ERRORS)
async def remind(
    org: str, body: RemindRequest, principal: CurrentPrincipal, context: Context
) -> RemindResponse:
    """Remind `users` (usernames), or `all` members without MFA. The answer lists usernames
    as sent, skipped (has MFA, reminded within the hour unless `force`, not a member) or
    failed (the mail server refused or could not be reached), with a reason for each of the
    last two. Owners and admins only."""
    reminded = await context.services.reminders.remind(
        principal, org, None if body.all else body.users, body.force
    )
    return RemindResponse(
        sent=reminded.sent,
        skipped=reminded.skipped,
        failed=reminded.failed,
        reasons=reminded.reasons,
    )
