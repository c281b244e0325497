"""What a bearer may do: the rules of API token scopes, each beside the text it produces.

A login session may do everything its user may. An API token has a scope:

* `certificate` (the default): issue certificates, read the authority and whoami
  (`Need.CERTIFICATE`), what a bot that pushes and pulls needs;
* `account`: everything the user may do through the API (`Need.ACCOUNT`), except what needs
  a login session.

MFA setup, verify and disable, recovery codes, password change and token management need a
login session (`Need.SESSION`): a leaked token must not enrol an attacker's authenticator,
change the password or mint more tokens. What would let a login without a second factor
act as one with it needs a login with `mfa` when the user has MFA (`lacks_mfa_login`): an
`account` token, and adding an authenticator app to an account whose MFA is on through
security keys (a session opened before MFA went on must not add a factor).

Pure: the API declares what each route needs; `refusal` decides.
"""

from __future__ import annotations

from enum import Enum

from sshgate.accounts.principal import Principal
from sshgate.store import TokenScope

__all__ = [
    "ADDING_APP_NEEDS_MFA",
    "SCOPES",
    "Need",
    "lacks_mfa_login",
    "new_token_refusal",
    "refusal",
]

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
ADDING_APP_NEEDS_MFA = (
    "your MFA is on: adding an authenticator app needs a login with MFA; sign in again"
    " with your security key (Console, or sshgate login --web), then set it up"
)
UNKNOWN_SCOPE = "a token's scope is certificate or account"


def lacks_mfa_login(user_has_mfa: bool, login_has_mfa: bool) -> bool:
    """The one rule for sensitive account changes: a user with MFA must make them from a
    login whose amr still has `mfa`."""
    return user_has_mfa and not login_has_mfa


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
    if scope == "account" and lacks_mfa_login(principal.user.mfa_enabled, principal.has_mfa):
        return ACCOUNT_SCOPE_NEEDS_MFA
    return None
