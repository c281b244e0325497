"""GET /api/me/access: the caller's organizations, and the projects, services and git
remotes they may use, for `sshgate whoami` (the rules: `sshgate.services.access`)."""

from __future__ import annotations

from fastapi import APIRouter

from sshgate.api.context import CertificatePrincipal, Context
from sshgate.api.schemas import AccessResponse, OrgAccess, ProjectAccess

router = APIRouter(prefix="/api/me", tags=["access"])


@router.get("/access", response_model=AccessResponse)
async def access(principal: CertificatePrincipal, context: Context) -> AccessResponse:
    found = await context.services.access(principal)
    return AccessResponse(
        orgs=[
            OrgAccess(
                name=o.name,
                role=o.role.value,
                mfa_required=o.mfa_required,
                mfa_level=o.mfa_level,
                mfa_missing=o.mfa_missing,
            )
            for o in found.orgs
        ],
        projects=[
            ProjectAccess(
                id=p.id,
                title=p.title,
                org=p.org,
                role=p.role,
                git_remote=p.git_remote,
                services=list(p.services),
            )
            for p in found.projects
        ],
    )
