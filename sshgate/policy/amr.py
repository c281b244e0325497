"""What a login proved: its `amr` (RFC 8176 method names), and whether its second factor
still counts. Pure.

A login with only the password has ["pwd"]; with a TOTP or recovery code
["pwd", "otp", "mfa"]; with a security key or passkey ["pwd", "hwk", "mfa"]. "mfa" is in
both, so every rule that asks for MFA holds whichever factor it was; "hwk" is what an org at
level phishing-resistant asks for.

The second factor counts only while the account still has MFA and it was not reset or
disabled after the authentication: the gateway (`Identity`) and the API (`Principal`) apply
this same rule to the same whole-second `auth_time`.
"""

from __future__ import annotations

from sshgate.policy.model import MFALevel, Organization, User

__all__ = [
    "AUTHENTICATOR_APP",
    "KEY",
    "MFA",
    "OTP",
    "PASSWORD",
    "PASSWORD_ONLY",
    "SECURITY_KEY",
    "WITH_CODE",
    "WITH_KEY",
    "effective_amr",
    "meets_level",
    "member_factors",
    "missing_factor",
    "second_factor_counts",
]

PASSWORD = "pwd"
OTP = "otp"  # a TOTP or recovery code
KEY = "hwk"  # a security key or passkey (WebAuthn)
MFA = "mfa"

# A member's second factors as the security listing names them (`org security --json`).
AUTHENTICATOR_APP = "totp"
SECURITY_KEY = "webauthn"

PASSWORD_ONLY: tuple[str, ...] = (PASSWORD,)
WITH_CODE: tuple[str, ...] = (PASSWORD, OTP, MFA)
WITH_KEY: tuple[str, ...] = (PASSWORD, KEY, MFA)
_SECOND_FACTOR = frozenset({OTP, KEY, MFA})


def second_factor_counts(amr: tuple[str, ...], auth_time: int, user: User) -> bool:
    """`amr` has "mfa", the account still has MFA, and it was not reset since `auth_time`."""
    if MFA not in amr or not user.mfa_enabled:
        return False
    revoked_at = user.mfa_revoked_at
    return revoked_at is None or auth_time >= revoked_at


def effective_amr(amr: tuple[str, ...], auth_time: int, user: User) -> tuple[str, ...]:
    """`amr` without its second factor ("mfa", "otp", "hwk") when that no longer counts."""
    if MFA not in amr or second_factor_counts(amr, auth_time, user):
        return amr
    return tuple(method for method in amr if method not in _SECOND_FACTOR)


def missing_factor(org: Organization, has_mfa: bool, has_key: bool) -> str | None:
    """What `org` asks of a login that it lacks: "mfa" (any second factor), "hwk" (a security
    key or passkey, at level phishing-resistant), or None. The gateway's decision and the
    API's RFC 9470 answer both ask this."""
    if not org.mfa_required:
        return None
    if not has_mfa:
        return MFA
    if org.mfa_level is MFALevel.PHISHING_RESISTANT and not has_key:
        return KEY
    return None


def member_factors(mfa_enabled: bool, has_app: bool, has_key: bool) -> tuple[str, ...]:
    """The second factors a member can sign in with: none while MFA is off (a pending
    authenticator setup is not a factor)."""
    if not mfa_enabled:
        return ()
    return tuple(
        name for name, present in ((AUTHENTICATOR_APP, has_app), (SECURITY_KEY, has_key)) if present
    )


def meets_level(mfa_enabled: bool, factors: tuple[str, ...], level: MFALevel) -> bool:
    """Whether a member's account can sign in the way `level` asks (who needs a reminder)."""
    if level is MFALevel.PHISHING_RESISTANT:
        return mfa_enabled and SECURITY_KEY in factors
    return mfa_enabled
