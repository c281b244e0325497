"""The policy decision: may this identity make this request, under the live org state?

Pure and synchronous: the shell gathers `Identity`, `Request` and `AccessFacts`, calls
`decide()`, and acts on the `Decision`. The rules below are checked top to bottom; each one
names itself (the name lands in the audit log) and carries the message the user sees.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sshgate.policy.amr import KEY, MFA, missing_factor, second_factor_counts
from sshgate.policy.messages import (
    key_required_message,
    mfa_required_message,
    no_access_message,
)
from sshgate.policy.model import (
    Environment,
    Organization,
    OrgRole,
    Project,
    ProjectRole,
    User,
)


class RequestKind(enum.StrEnum):
    SHELL = "shell"
    EXEC = "exec"
    SUBSYSTEM = "subsystem"
    GIT_GREETING = "git-greeting"  # `ssh -T <project id>@gateway`
    GIT_PULL = "git-pull"
    GIT_PUSH = "git-push"
    PORT_FORWARD = "port-forward"
    AGENT_FORWARD = "agent-forward"


class Capability(enum.IntEnum):
    """What a role allows, in increasing order."""

    NONE = 0
    PULL = 1  # viewer
    WRITE = 2  # contributor: push, ssh into environments, forwardings
    MANAGE = 3  # project admin, org owner/admin


_NEEDED = {
    RequestKind.GIT_GREETING: Capability.PULL,
    RequestKind.GIT_PULL: Capability.PULL,
    RequestKind.GIT_PUSH: Capability.WRITE,
    RequestKind.SHELL: Capability.WRITE,
    RequestKind.EXEC: Capability.WRITE,
    RequestKind.SUBSYSTEM: Capability.WRITE,
    RequestKind.PORT_FORWARD: Capability.WRITE,
    RequestKind.AGENT_FORWARD: Capability.WRITE,
}
_PROJECT_ROLE_CAPABILITY = {
    ProjectRole.VIEWER: Capability.PULL,
    ProjectRole.CONTRIBUTOR: Capability.WRITE,
    ProjectRole.ADMIN: Capability.MANAGE,
}


def capability(org_role: OrgRole | None, project_role: ProjectRole | None) -> Capability:
    if org_role in (OrgRole.OWNER, OrgRole.ADMIN):
        return Capability.MANAGE
    if org_role is None:
        # A grant outlives nothing: without org membership there is no access.
        return Capability.NONE
    if project_role is None:
        return Capability.NONE
    return _PROJECT_ROLE_CAPABILITY[project_role]


@dataclass(frozen=True)
class Identity:
    """A verified certificate holder: the store's user and the certificate's claims."""

    user: User
    serial: int
    amr: tuple[str, ...]
    auth_time: int
    revoked: bool = False
    permit_port_forwarding: bool = False
    permit_agent_forwarding: bool = False

    @property
    def has_mfa(self) -> bool:
        """`mfa` counts only while the account still has MFA and it was not reset since."""
        return second_factor_counts(self.amr, self.auth_time, self.user)

    @property
    def has_key(self) -> bool:
        """The login behind the certificate used a security key or passkey, and still counts."""
        return KEY in self.amr and self.has_mfa


@dataclass(frozen=True)
class Target:
    """What the request is for, as the store knows it now. `project` None: it doesn't exist."""

    requested: str  # the SSH user name as sent, for the Service: line
    project: Project | None
    org: Organization | None
    environment: Environment | None  # None for the git route
    is_git: bool
    org_role: OrgRole | None
    project_role: ProjectRole | None


@dataclass(frozen=True)
class GatewaySettings:
    allow_port_forwarding: bool = True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    lines: tuple[str, ...] = ()
    exit_status: int = 0


_DEFAULT_SETTINGS = GatewaySettings()
PORT_FORWARDING_REFUSED = ("sshgate: port forwarding is not permitted",)
AGENT_FORWARDING_REFUSED = ("sshgate: agent forwarding is not permitted",)


def _deny(rule: str, lines: tuple[str, ...]) -> Decision:
    return Decision(False, rule, lines, 1)


def decide(
    identity: Identity,
    kind: RequestKind,
    target: Target,
    settings: GatewaySettings = _DEFAULT_SETTINGS,
) -> Decision:
    user = identity.user
    no_access = no_access_message(target.requested, user.username, user.id)
    if user.disabled:
        return _deny("user-disabled", no_access)
    if identity.revoked:
        return _deny("revoked", no_access)
    if target.project is None or target.org is None:
        return _deny("unknown-service", no_access)
    if not target.is_git and target.environment is None:
        return _deny("unknown-service", no_access)
    if capability(target.org_role, target.project_role) < _NEEDED[kind]:
        return _deny("no-access", no_access)
    missing = missing_factor(target.org, identity.has_mfa, identity.has_key)
    if missing == MFA:
        return _deny("mfa-required", mfa_required_message(target.requested, user.username, user.id))
    if missing == KEY:
        return _deny(
            "phishing-resistant-mfa-required",
            key_required_message(target.requested, user.username, user.id),
        )
    if kind is RequestKind.PORT_FORWARD and not (
        identity.permit_port_forwarding and settings.allow_port_forwarding
    ):
        return _deny("port-forwarding-not-permitted", PORT_FORWARDING_REFUSED)
    if kind is RequestKind.AGENT_FORWARD and not identity.permit_agent_forwarding:
        return _deny("agent-forwarding-not-permitted", AGENT_FORWARDING_REFUSED)
    return Decision(True, "allow")
