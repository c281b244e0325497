"""What a bearer may do: the rules of API token scopes, each beside the text it produces.

A login session may do everything its user may. An API token has a scope:

* `certificate` (the default): issue certificates, read the authority and whoami
  (`Need.CERTIFICATE`), what a bot that pushes and pulls needs;
* `account`: everything the user may do through the API (`Need.ACCOUNT`), except what needs
  a login session.

MFA setup, verify and disable, recovery codes, password change and token management need a
login session (`Need.SESSION`): a leaked token must not enrol an attacker's authenticator,
change the password or mint more tokens. An `account` token is created only from a login
with `mfa` when the user has MFA, so that it is not a way around the second factor.

Pure: the API declares what each route needs; `refusal` decides.
"""

from __future__ import annotations

from enum import Enum

from sshgate.accounts.principal import Principal
from sshgate.store import TokenScope

__all__ = ["SCOPES", "Need", "new_token_refusal", "refusal"]

SCOPES: tuple[TokenScope, ...] = ("certificate", "account")


class Need(Enum):
    CERTIFICATE = "certificate"
    ACCOUNT = "account"
    SESSION = "session"


NEEDS_SESSION = "this needs a login session, not an API token: log in (sshgate login) and try again"
NEEDS_ACCOUNT_SCOPE = (
    "this API token may only issue certificates and read whoami (scope certificate);"
    " create one with --scope account for this"
)
ACCOUNT_SCOPE_NEEDS_MFA = (
    "a token with scope account needs a login with MFA: log in with your code"
    " (sshgate login -f), then create it"
)
UNKNOWN_SCOPE = "a token's scope is certificate or account"


def refusal(principal: Principal, need: Need) -> str | None:
    """Why this bearer may not do what needs `need`; None when it may."""
    if principal.kind == "session":
        return None
    if need is Need.SESSION:
        return NEEDS_SESSION
    if need is Need.ACCOUNT and principal.scope != "account":
        return NEEDS_ACCOUNT_SCOPE
    return None


def new_token_refusal(principal: Principal, scope: str) -> str | None:
    """Why this login may not create a token with `scope`; None when it may."""
    if principal.kind != "session":
        return NEEDS_SESSION
    if scope not in SCOPES:
        return UNKNOWN_SCOPE
    if scope == "account" and principal.user.mfa_enabled and not principal.has_mfa:
        return ACCOUNT_SCOPE_NEEDS_MFA
    return None
