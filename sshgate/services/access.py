"""What the caller may use: their organizations, and the projects, services and git remotes
in them, with the exact `ssh` and `git clone` commands (`sshgate whoami`, the API's
/api/me/access, the Console's Projects page).

An organization whose requirement the caller's login does not meet is listed with its
requirement missing, and its projects are left out, as every resource of such an org is.
Project roles follow the policy: org owners and admins act as project admins everywhere in
the org; members need a grant. Services are listed for roles that may ssh into environments
(contributor and up).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from sshgate.accounts import Principal
from sshgate.policy import Capability, MFALevel, OrgRole, Project, capability
from sshgate.services.orgs import missing_amr
from sshgate.store import AccessFacts, Store

__all__ = [
    "Access",
    "OrgEntry",
    "ProjectEntry",
    "git_clone_command",
    "git_remote",
    "ssh_command",
    "user_access",
]

SSH_PORT = 22


@dataclass(frozen=True)
class OrgEntry:
    name: str
    role: OrgRole
    mfa_required: bool
    mfa_missing: bool  # the org requires MFA and this login lacks it: projects not listed
    mfa_level: MFALevel = MFALevel.ANY


@dataclass(frozen=True)
class ProjectEntry:
    id: str
    title: str
    org: str
    role: str  # viewer | contributor | admin
    git_remote: str | None
    services: tuple[str, ...]


@dataclass(frozen=True)
class Access:
    orgs: list[OrgEntry]
    projects: list[ProjectEntry]


def git_remote(project_id: str, host: str, port: int) -> str:
    """`<id>@<host>:<id>.git`, or the ssh:// form when the port is not 22 (scp syntax has
    no port)."""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    if port == SSH_PORT:
        return f"{project_id}@{host}:{project_id}.git"
    return f"ssh://{project_id}@{host}:{port}/{project_id}.git"


def git_clone_command(remote: str) -> str:
    return f"git clone {shlex.quote(remote)}"


def ssh_command(service: str, host: str, port: int) -> str:
    """The command that opens a shell in an environment through the gateway."""
    port_option = "" if port == SSH_PORT else f"-p {port} "
    return f"ssh {port_option}{shlex.quote(service)}@{host}"


def project_entry(project: Project, facts: AccessFacts, host: str, port: int) -> ProjectEntry:
    can = capability(facts.org_role, facts.project_role)
    if facts.org_role in (OrgRole.OWNER, OrgRole.ADMIN):
        role = "admin"  # org owners and admins may do everything in the org's projects
    elif facts.project_role is not None:
        role = facts.project_role.value
    else:
        role = "none"  # not listed: the caller filters on capability
    return ProjectEntry(
        id=project.id,
        title=project.title,
        org=project.org,
        role=role,
        git_remote=git_remote(project.id, host, port) if project.git_upstream else None,
        services=tuple(e.service for e in facts.environments) if can >= Capability.WRITE else (),
    )


async def user_access(
    store: Store, principal: Principal, host: str, port: int, org: str | None = None
) -> Access:
    """The caller's orgs (or only `org`) and the projects they may use in them."""
    orgs: list[OrgEntry] = []
    projects: list[ProjectEntry] = []
    for found, role in await store.orgs_of(principal.user.id):
        if org is not None and found.name != org:
            continue
        hidden = missing_amr(principal, found) is not None
        orgs.append(OrgEntry(found.name, role, found.mfa_required, hidden, found.mfa_level))
        if hidden:
            continue
        for project in await store.list_projects(found.name):
            facts = await store.access_facts(project.id, principal.user.id)
            if capability(facts.org_role, facts.project_role) > Capability.NONE:
                projects.append(project_entry(project, facts, host, port))
    return Access(orgs, projects)
