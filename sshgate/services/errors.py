"""What the services refuse with. The API turns each into its HTTP answer (`api/errors.py`),
the Console into a page, the CLI into one line on stderr and exit status 1."""

from __future__ import annotations

__all__ = [
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "OrgNotFound",
    "OrgRequiresMFA",
    "ServiceError",
]

NO_SUCH_ORG = "organization {org} does not exist or you are not a member of it"


class ServiceError(Exception):
    """Base of every refusal of the service layer; `str()` is the message for people."""


class InvalidRequest(ServiceError):
    """What was asked for is malformed (a name outside its pattern) or exists already."""


class NotFound(ServiceError):
    """What the operator named does not exist (an org, a user)."""


class OrgNotFound(NotFound):
    """The org does not exist, or the caller is not a member of it: the same answer, so that
    org names cannot be probed."""

    def __init__(self, org: str) -> None:
        super().__init__(NO_SUCH_ORG.format(org=org))


class OrgRequiresMFA(ServiceError):
    """The org requires MFA (of `amr`'s kind) and the caller's login does not carry it."""

    def __init__(self, org: str, amr: tuple[str, ...]) -> None:
        super().__init__(f"organization {org} requires multifactor authentication (MFA)")
        self.org = org
        self.amr = amr


class Forbidden(ServiceError):
    """The caller may not do this; `rule` names the missing prerequisite (role, addon,
    switcher-mfa)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
