"""Who is calling the API: a user, through a login session or an API token, with the `amr`
that still counts now.

The rule for `mfa` is the gateway's (`sshgate.policy.amr`, `effective_amr`): it counts
only while the account has MFA and was not reset or disabled after the authentication. An
MFA reset or disable also ends every login session opened before it, even one that an older
admin tool did not revoke in the store, so certificates stop renewing as the contract says.
"""

from __future__ import annotations

from dataclasses import dataclass

from sshgate.accounts.bearer import BearerKind
from sshgate.policy import KEY, MFA, User, effective_amr
from sshgate.store import TokenScope

__all__ = ["Principal", "effective_amr", "session_ended_by_mfa_change"]


def session_ended_by_mfa_change(auth_time: float, user: User) -> bool:
    return user.mfa_revoked_at is not None and auth_time < user.mfa_revoked_at


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `jti` is the session or token id that certificates name;
    `expires_at` is when that session or token ends (None: a token without expiry), which
    no certificate it gets outlives."""

    user: User
    amr: tuple[str, ...]
    auth_time: int
    jti: str
    kind: BearerKind
    expires_at: float | None = None
    # an API token's scope (sshgate.accounts.scope); None for a login session
    scope: TokenScope | None = None

    @property
    def has_mfa(self) -> bool:
        return MFA in self.amr

    @property
    def has_key(self) -> bool:
        """The login used a security key or passkey (phishing-resistant), and it still counts."""
        return KEY in self.amr and self.has_mfa
