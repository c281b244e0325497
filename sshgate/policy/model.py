"""The policy model: plain, frozen values that the store returns and the core decides on."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class OrgRole(enum.StrEnum):
    """A member's role in an organization. Owners and admins may do everything in its projects."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class ProjectRole(enum.StrEnum):
    """A project grant: viewer pulls, contributor also pushes and ssh-es, admin also manages."""

    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    ADMIN = "admin"


ADVANCED_USER_MANAGEMENT = "advanced-user-management"


class MFALevel(enum.StrEnum):
    """Which logins count when an organization requires MFA: any second factor, or only a
    security key or passkey (phishing-resistant: bound to the real origin, `hwk` in amr)."""

    ANY = "any"
    PHISHING_RESISTANT = "phishing-resistant"


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str
    disabled: bool = False
    mfa_enabled: bool = False
    mfa_since: float | None = None
    # Certificates and sessions authenticated before this moment lose "mfa"
    # (set by MFA reset and MFA disable).
    mfa_revoked_at: float | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class Organization:
    name: str
    mfa_required: bool = False
    addons: frozenset[str] = field(default_factory=frozenset)
    mfa_level: MFALevel = MFALevel.ANY


@dataclass(frozen=True)
class Endpoint:
    """An OpenSSH server the gateway logs in to: `USER@HOST:PORT`, with its pinned host keys."""

    user: str
    host: str
    port: int
    host_keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Project:
    id: str
    org: str
    title: str
    git_upstream: Endpoint | None = None
    git_path: str = ""


@dataclass(frozen=True)
class Environment:
    """One app of one environment of a project; its service name is what users ssh to."""

    project_id: str
    name: str
    machine_name: str
    app: str
    upstream: Endpoint

    @property
    def service(self) -> str:
        return f"{self.project_id}-{self.machine_name}--{self.app}"
