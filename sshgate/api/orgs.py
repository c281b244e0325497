"""Organization security for owners and admins: GET /api/orgs/{org}/security (who has MFA)
and PUT /api/orgs/{org}/mfa-required (the switch). Reminders are in `org_reminders.py`.

Every route here first finds the caller's membership: an org that does not exist and one
the caller is not a member of get the same 404, so org names cannot be probed. Then, before
any role check or prerequisite, `require_mfa_for_org`: these are the security settings of
the org, so an org that requires MFA answers a bearer without `mfa` with RFC 9470's 401,
switching the requirement off included (only an owner or admin who proved MFA may lower it).
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from sshgate.accounts.principal import Principal
from sshgate.api.context import ApiContext, Context, CurrentPrincipal, client_address
from sshgate.api.errors import ApiError, require_mfa_for_org
from sshgate.api.schemas import (
    ErrorResponse,
    MemberSecurityItem,
    MFARequiredRequest,
    MFARequiredResponse,
    SecurityResponse,
    iso,
)
from sshgate.logs import log
from sshgate.policy.model import Organization, OrgRole
from sshgate.policy.org_security import (
    NOT_ALLOWED_TO_VIEW,
    may_switch_mfa_required,
    may_view_security,
    switch_detail,
)
from sshgate.policy.routes import ORG_NAME
from sshgate.store.base import AuditEvent

__all__ = ["caller_org", "router"]

router = APIRouter(prefix="/api/orgs", tags=["orgs"])
AUDIT_KIND = "org:mfa-required"
NO_SUCH_ORG = "organization {org} does not exist or you are not a member of it"
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "The org requires MFA; this bearer lacks it"},
    403: {"model": ErrorResponse, "description": "Not allowed; the message says what is missing"},
    404: {"model": ErrorResponse, "description": "No such org, or the caller is not a member"},
}


async def caller_org(
    context: ApiContext, principal: Principal, name: str
) -> tuple[Organization, OrgRole]:
    """The org named `name` and the caller's role in it, after the org's MFA guard."""
    if ORG_NAME.fullmatch(name):
        for org, role in await context.store.orgs_of(principal.user.id):
            if org.name == name:
                require_mfa_for_org(principal, org)
                return org, role
        raise ApiError(404, "not_found", NO_SUCH_ORG.format(org=name))
    raise ApiError(404, "not_found", NO_SUCH_ORG.format(org="(invalid name)"))


def forbidden(message: str, rule: str) -> ApiError:
    return ApiError(403, "forbidden", message, extra={"rule": rule})


@router.get("/{org}/security", response_model=SecurityResponse, responses=ERRORS)
async def security(org: str, principal: CurrentPrincipal, context: Context) -> SecurityResponse:
    """Every member with role, whether their account has MFA (since when), and when they
    were last reminded. Owners and admins only."""
    found, role = await caller_org(context, principal, org)
    if not may_view_security(role):
        raise forbidden(NOT_ALLOWED_TO_VIEW.format(org=found.name), "role")
    members = await context.store.list_member_security(found.name)
    return SecurityResponse(
        items=[
            MemberSecurityItem(
                username=m.username,
                email=m.email,
                role=m.role.value,
                mfa=m.mfa,
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
    """Switch "MFA required". On: an owner or admin, the advanced-user-management add-on,
    and MFA enabled on the switcher's own account; off: an owner or admin. The answer says
    how many open sessions (through any gateway) the gateways will close. Audited, refusals
    too."""
    found, role = await caller_org(context, principal, org)
    store, now = context.store, context.now()
    event = AuditEvent(
        time=now,
        kind=AUDIT_KIND,
        decision="admin",
        reason="org-mfa-required",
        user_id=principal.user.id,
        client=client_address(request) or None,
        service=found.name,
        detail=switch_detail(found.mfa_required, body.required),
    )
    refusal = may_switch_mfa_required(found, role, principal.user.mfa_enabled, body.required)
    if refusal is not None:
        await store.audit(dataclasses.replace(event, decision="deny", reason=refusal.rule))
        log(
            "org_mfa_required_refused",
            org=found.name,
            user_id=principal.user.id,
            rule=refusal.rule,
        )
        raise forbidden(refusal.message, refusal.rule)
    # Counted before the switch: the gateways start closing these as soon as it is stored.
    to_close = await store.count_sessions_without_mfa(found.name, now) if body.required else 0
    await store.set_mfa_required(found.name, body.required)
    await store.audit(event)
    log(
        "org_mfa_required",
        org=found.name,
        user_id=principal.user.id,
        change=event.detail,
        sessions_to_close=to_close,
    )
    return MFARequiredResponse(
        org=found.name, mfa_required=body.required, sessions_to_close=to_close
    )
