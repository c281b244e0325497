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

from sshgate.policy.model import User

__all__ = [
    "KEY",
    "MFA",
    "OTP",
    "PASSWORD",
    "PASSWORD_ONLY",
    "WITH_CODE",
    "WITH_KEY",
    "effective_amr",
    "second_factor_counts",
]

PASSWORD = "pwd"
OTP = "otp"  # a TOTP or recovery code
KEY = "hwk"  # a security key or passkey (WebAuthn)
MFA = "mfa"

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
