"""GET /api/me/access: the caller's organizations, and the projects, services and git
remotes they may use, for `sshgate whoami`.

An organization that requires MFA is listed, with `mfa_missing` true when the bearer lacks
`mfa`; its projects are then left out, as every resource of such an org is (the contract's
API enforcement). Project roles follow the policy: org owners and admins act as project
admins everywhere in the org; members need a grant. Services are listed for roles that may
ssh into environments (contributor and up).
"""

from __future__ import annotations

from fastapi import APIRouter

from sshgate.api.context import Context, CurrentPrincipal
from sshgate.api.errors import org_needs_mfa
from sshgate.api.schemas import AccessResponse, OrgAccess, ProjectAccess
from sshgate.policy.decision import Capability, capability
from sshgate.policy.model import OrgRole, Project
from sshgate.store.base import AccessFacts

router = APIRouter(prefix="/api/me", tags=["access"])
SCP_PORT = 22


def git_remote(project_id: str, host: str, port: int) -> str:
    """`<id>@<host>:<id>.git`, or the ssh:// form when the port is not 22 (scp syntax has
    no port)."""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    if port == SCP_PORT:
        return f"{project_id}@{host}:{project_id}.git"
    return f"ssh://{project_id}@{host}:{port}/{project_id}.git"


def project_access(project: Project, facts: AccessFacts, host: str, port: int) -> ProjectAccess:
    can = capability(facts.org_role, facts.project_role)
    if facts.org_role in (OrgRole.OWNER, OrgRole.ADMIN):
        role = "admin"  # org owners and admins may do everything in the org's projects
    elif facts.project_role is not None:
        role = facts.project_role.value
    else:
        role = "none"  # not listed: the caller filters on capability
    return ProjectAccess(
        id=project.id,
        title=project.title,
        org=project.org,
        role=role,
        git_remote=git_remote(project.id, host, port) if project.git_upstream else None,
        services=[e.service for e in facts.environments] if can >= Capability.WRITE else [],
    )


@router.get("/access", response_model=AccessResponse)
async def access(principal: CurrentPrincipal, context: Context) -> AccessResponse:
    store, config = context.store, context.config
    host, port = config.gateway_public_host, config.gateway_public_port
    orgs: list[OrgAccess] = []
    projects: list[ProjectAccess] = []
    for org, role in await store.orgs_of(principal.user.id):
        hidden = org_needs_mfa(principal, org)
        orgs.append(
            OrgAccess(
                name=org.name, role=role.value, mfa_required=org.mfa_required, mfa_missing=hidden
            )
        )
        if hidden:
            continue
        for project in await store.list_projects(org.name):
            facts = await store.access_facts(project.id, principal.user.id)
            if capability(facts.org_role, facts.project_role) > Capability.NONE:
                projects.append(project_access(project, facts, host, port))
    return AccessResponse(orgs=orgs, projects=projects)
