"""An organization's security settings: who has MFA, and the "MFA required" switch.

Every caller (the API, the Console, `sshgate org`, the operator's `sshgate admin org
mfa-required`) goes through `OrgSecurity`, so the rules are written once:
* members see nothing here; owners and admins see every member's MFA status;
* switching on needs the three prerequisites of `sshgate.policy.org_security` (at level
  phishing-resistant also the switcher's own login with a key), switching off the role
  alone; the operator skips them, and is audited as the operator;
* the open sessions that will close are counted *before* the switch is stored: the gateways
  start closing them as soon as it is, so a count taken after races them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from sshgate.accounts import Principal
from sshgate.logs import log
from sshgate.policy import (
    NOT_ALLOWED_TO_VIEW,
    MFALevel,
    Organization,
    OrgRole,
    SwitchRefusal,
    may_switch_mfa_required,
    may_view_security,
    switch_detail,
)
from sshgate.services.errors import Forbidden, NotFound
from sshgate.services.orgs import member_org
from sshgate.store import AuditEvent, MemberSecurity, Store

__all__ = ["OrgSecurity", "SecuritySettings", "Switched"]

AUDIT_KIND = "org:mfa-required"
OPERATOR_AUDIT_KIND = "admin:org-mfa-required"
REASON = "org-mfa-required"


@dataclass(frozen=True)
class Switched:
    org: str
    mfa_required: bool
    sessions_to_close: int  # open sessions of users without MFA that the gateways will close
    mfa_level: MFALevel = MFALevel.ANY


@dataclass(frozen=True)
class SecuritySettings:
    """What the Security page shows: the members (None for a caller who may not see them)
    and why the caller may not flip the switch from its current state (None: they may)."""

    org: Organization
    role: OrgRole
    members: list[MemberSecurity] | None
    cannot_switch: SwitchRefusal | None
    refused: str = ""  # why `members` is None


class OrgSecurity:
    def __init__(self, store: Store, now: Callable[[], float] = time.time) -> None:
        self._store = store
        self._now = now

    async def overview(self, principal: Principal, name: str) -> SecuritySettings:
        """Any member's view: the switch and what keeps the caller from flipping it; the
        member list only for owners and admins."""
        found = await member_org(self._store, principal, name)
        org = found.org
        cannot = may_switch_mfa_required(
            org, found.role, principal.user.mfa_enabled, not org.mfa_required
        )
        if not may_view_security(found.role):
            refused = NOT_ALLOWED_TO_VIEW.format(org=org.name)
            return SecuritySettings(org, found.role, None, cannot, refused)
        members = await self._store.list_member_security(org.name)
        return SecuritySettings(org, found.role, members, cannot)

    async def members(self, principal: Principal, name: str) -> list[MemberSecurity]:
        """Every member with their MFA status; owners and admins only (Forbidden)."""
        overview = await self.overview(principal, name)
        if overview.members is None:
            raise Forbidden("role", overview.refused)
        return overview.members

    async def sessions_to_close(
        self, principal: Principal, name: str, level: MFALevel = MFALevel.ANY
    ) -> int:
        """How many open sessions switching MFA required on (at `level`) would close now (the
        Console's confirm step); Forbidden for a caller who may not switch it on."""
        found = await member_org(self._store, principal, name)
        refusal = may_switch_mfa_required(
            found.org, found.role, principal.user.mfa_enabled, True, level, principal.has_key
        )
        if refusal is not None:
            raise Forbidden(refusal.rule, refusal.message)
        return await self._store.count_sessions_without_mfa(
            found.org.name, self._now(), level=level
        )

    async def switch(
        self,
        principal: Principal,
        name: str,
        required: bool,
        client: str = "",
        level: MFALevel = MFALevel.ANY,
    ) -> Switched:
        """Switch MFA required (at `level`) as an org owner or admin. Audited, refusals too."""
        found = await member_org(self._store, principal, name)
        level = level if required else MFALevel.ANY
        event = AuditEvent(
            time=self._now(),
            kind=AUDIT_KIND,
            decision="admin",
            reason=REASON,
            user_id=principal.user.id,
            client=client or None,
            service=found.org.name,
            detail=switch_detail(found.org.mfa_required, required, found.org.mfa_level, level),
        )
        refusal = may_switch_mfa_required(
            found.org, found.role, principal.user.mfa_enabled, required, level, principal.has_key
        )
        if refusal is not None:
            await self._store.audit(
                dataclasses.replace(event, decision="deny", reason=refusal.rule)
            )
            log(
                "org_mfa_required_refused",
                org=found.org.name,
                user_id=principal.user.id,
                rule=refusal.rule,
            )
            raise Forbidden(refusal.rule, refusal.message)
        return await self._store_switch(found.org.name, required, level, event)

    async def operator_switch(
        self, name: str, required: bool, level: MFALevel = MFALevel.ANY
    ) -> Switched:
        """The operator's `sshgate admin org mfa-required`: no prerequisites, audited."""
        org = await self._store.get_org(name)
        if org is None:
            raise NotFound(f"no organization named {name!r}")
        event = AuditEvent(
            time=self._now(),
            kind=OPERATOR_AUDIT_KIND,
            decision="admin",
            reason=REASON,
            service=name,
            detail=switch_detail(org.mfa_required, required, org.mfa_level, level),
        )
        return await self._store_switch(name, required, level, event)

    async def _store_switch(
        self, org: str, required: bool, level: MFALevel, event: AuditEvent
    ) -> Switched:
        level = level if required else MFALevel.ANY
        # Counted before the switch: the gateways start closing these once it is stored.
        to_close = (
            await self._store.count_sessions_without_mfa(org, self._now(), level=level)
            if required
            else 0
        )
        await self._store.set_mfa_required(org, required, level)
        await self._store.audit(event)
        log(
            "org_mfa_required",
            org=org,
            user_id=event.user_id or "operator",
            change=event.detail,
            sessions_to_close=to_close,
        )
        return Switched(org, required, to_close, level)
