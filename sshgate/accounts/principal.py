"""Who is calling the API: a user, through a login session or an API token, with the `amr`
that still counts now.

The rule for `mfa` is the gateway's (`sshgate.policy.decision.Identity.has_mfa`): it counts
only while the account has MFA and was not reset or disabled after the authentication. An
MFA reset or disable also ends every login session opened before it, even one that an older
admin tool did not revoke in the store, so certificates stop renewing as the contract says.
"""

from __future__ import annotations

from dataclasses import dataclass

from sshgate.accounts.bearer import BearerKind
from sshgate.policy.model import User

__all__ = ["Principal", "effective_amr", "session_ended_by_mfa_change"]

MFA = "mfa"


def effective_amr(amr: tuple[str, ...], auth_time: int, user: User) -> tuple[str, ...]:
    """`amr` without "mfa" when it no longer counts. `auth_time` is whole seconds, as in the
    certificate's claims, so the API and the gateway agree on the same value."""
    if MFA not in amr:
        return amr
    revoked_at = user.mfa_revoked_at
    if user.mfa_enabled and (revoked_at is None or auth_time >= revoked_at):
        return amr
    return tuple(method for method in amr if method != MFA)


def session_ended_by_mfa_change(auth_time: float, user: User) -> bool:
    return user.mfa_revoked_at is not None and auth_time < user.mfa_revoked_at


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `jti` is the session or token id that certificates name."""

    user: User
    amr: tuple[str, ...]
    auth_time: int
    jti: str
    kind: BearerKind
    expires_at: float | None = None

    @property
    def has_mfa(self) -> bool:
        return MFA in self.amr
