"""Organization security for owners and admins: GET /api/orgs/{org}/security (who has MFA)
and PUT /api/orgs/{org}/mfa-required (the switch). Reminders are in `org_reminders.py`; the
rules are the service layer's (`sshgate.services.OrgSecurity`).

An org that does not exist and one the caller is not a member of get the same 404, so org
names cannot be probed. Then, before any role check or prerequisite, the org's MFA guard:
these are the security settings of the org, so an org that requires MFA answers a bearer
without `mfa` with RFC 9470's 401, switching the requirement off included (only an owner or
admin who proved MFA may lower it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from sshgate.api.context import Context, CurrentPrincipal, client_address
from sshgate.api.schemas import (
    ErrorResponse,
    MemberSecurityItem,
    MFARequiredRequest,
    MFARequiredResponse,
    SecurityResponse,
    iso,
)

__all__ = ["ERRORS", "router"]

router = APIRouter(prefix="/api/orgs", tags=["orgs"])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "The org requires MFA; this bearer lacks it"},
    403: {"model": ErrorResponse, "description": "Not allowed; the message says what is missing"},
    404: {"model": ErrorResponse, "description": "No such org, or the caller is not a member"},
}


@router.get("/{org}/security", response_model=SecurityResponse, responses=ERRORS)
async def security(org: str, principal: CurrentPrincipal, context: Context) -> SecurityResponse:
    """Every member with role, whether their account has MFA (since when), and when they
    were last reminded. Owners and admins only."""
    members = await context.services.org_security.members(principal, org)
    return SecurityResponse(
        items=[
            MemberSecurityItem(
                username=m.username,
                email=m.email,
                role=m.role.value,
                mfa=m.mfa,
                factors=list(m.factors),
                mfa_since=iso(m.mfa_since),
                last_reminded=iso(m.last_reminded),
            )
            for m in members
        ]
    )


@router.put("/{org}/mfa-required", response_model=MFARequiredResponse, responses=ERRORS)
async def mfa_required(
    org: str,
    body: MFARequiredRequest,
    principal: CurrentPrincipal,
    request: Request,
    context: Context,
) -> MFARequiredResponse:
    """Switch "MFA required", at level any or phishing-resistant. On: an owner or admin, the
    advanced-user-management add-on, and MFA enabled on the switcher's own account; for
    phishing-resistant also a switcher's login with a security key or passkey; off: an owner
    or admin. The answer says how many open sessions (through any gateway) the gateways will
    close. Audited, refusals too."""
    switched = await context.services.org_security.switch(
        principal, org, body.required, client_address(request), body.level
    )
    return MFARequiredResponse(
        org=switched.org,
        mfa_required=switched.mfa_required,
        mfa_level=switched.mfa_level,
        sessions_to_close=switched.sessions_to_close,
    )
