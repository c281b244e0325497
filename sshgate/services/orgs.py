"""The caller's organization: found only through their membership, and only after the org's
MFA requirement is met. Every org page and route starts here."""

from __future__ import annotations

from dataclasses import dataclass

from sshgate.accounts import Principal
from sshgate.policy import ORG_NAME, Organization, OrgRole, missing_factor
from sshgate.services.errors import OrgNotFound, OrgRequiresMFA
from sshgate.store import Store

__all__ = ["MemberOrg", "member_org", "missing_amr"]


@dataclass(frozen=True)
class MemberOrg:
    org: Organization
    role: OrgRole


def missing_amr(principal: Principal, org: Organization) -> tuple[str, ...] | None:
    """The authentication methods `org` requires that the caller's login lacks ("mfa", or
    "hwk" at level phishing-resistant), or None when it meets the org's requirement. Pure."""
    missing = missing_factor(org, principal.has_mfa, principal.has_key)
    return None if missing is None else (missing,)


async def member_org(store: Store, principal: Principal, name: str) -> MemberOrg:
    """The org `name` with the caller's role. OrgNotFound for an unknown org and for one the
    caller is not in alike; then OrgRequiresMFA when the caller's login does not meet it."""
    if not ORG_NAME.fullmatch(name):
        raise OrgNotFound("(invalid name)")
    for org, role in await store.orgs_of(principal.user.id):
        if org.name == name:
            missing = missing_amr(principal, org)
            if missing is not None:
                raise OrgRequiresMFA(org.name, missing)
            return MemberOrg(org, role)
    raise OrgNotFound(name)
