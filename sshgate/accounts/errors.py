"""The one exception hierarchy of the accounts package.

Messages are safe to show to the caller: they never carry a password, a code, a token, a
secret, or whether a username exists.
"""

from __future__ import annotations

__all__ = [
    "AccountsError",
    "InvalidCode",
    "InvalidToken",
    "InvalidTokenExpiry",
    "InvalidTokenName",
    "KeyCounterWentBack",
    "KeyNotAccepted",
    "KeyNotFound",
    "KeysUnavailable",
    "LoginFailed",
    "MFAAlreadyEnabled",
    "MFANotEnabled",
    "NoAuthenticatorApp",
    "NoPendingSetup",
    "NotPermitted",
    "SecondFactorLocked",
    "SecondFactorRequired",
    "SecretsKeyError",
    "Throttled",
    "TokenNotFound",
    "WrongPassword",
]


class AccountsError(Exception):
    """Base class of every error raised by ``sshgate.accounts``."""


class LoginFailed(AccountsError):
    """Raised by a login whose username is unknown, whose password is wrong, or whose user is
    disabled: one message for all three, so that a login reveals nothing about accounts."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class SecondFactorRequired(AccountsError):
    """Raised by a login whose password was right, for a user with MFA, when no code was given.
    Never raised before the password was verified (it would tell who has MFA)."""

    def __init__(self) -> None:
        super().__init__("this account has MFA: a TOTP code or a recovery code is required")


class InvalidCode(AccountsError):
    """Raised when a TOTP or recovery code is wrong, already used (a TOTP time step is
    accepted once), or not of either format."""

    def __init__(self, message: str = "invalid or already used code") -> None:
        super().__init__(message)


class SecondFactorLocked(AccountsError):
    """Raised after 5 consecutive wrong codes, for 15 minutes: no code is checked meanwhile."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            "too many wrong codes: the second factor is locked;"
            f" try again in {self.retry_after} seconds"
        )


class Throttled(AccountsError):
    """Raised instead of checking a password after 10 consecutive failures for the username or
    the client address: one attempt per minute is allowed then, never a hard lock."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"too many failed logins: try again in {self.retry_after} seconds")


class WrongPassword(AccountsError):
    """Raised when a signed-in user confirms an action (password change, MFA disable) with a
    wrong password. Unlike LoginFailed it may say so: the caller is already authenticated."""

    def __init__(self) -> None:
        super().__init__("the password is not correct")


class InvalidToken(AccountsError):
    """Raised for a bearer that is missing, malformed, unknown, revoked or expired, or whose
    user is disabled; also for a login session ended by an MFA reset or disable."""

    def __init__(self, message: str = "invalid or expired token; log in again") -> None:
        super().__init__(message)


class MFAAlreadyEnabled(AccountsError):
    """Raised by MFA setup when an authenticator app is already verified (remove it or
    disable MFA first); MFA on through security keys alone does not raise it."""

    def __init__(
        self,
        message: str = "MFA is already enabled for this account with an authenticator app",
    ) -> None:
        super().__init__(message)


class MFANotEnabled(AccountsError):
    """Raised by MFA disable and by new recovery codes when the account has no MFA."""

    def __init__(self) -> None:
        super().__init__("MFA is not enabled for this account")


class NoPendingSetup(AccountsError):
    """Raised by MFA verify without a setup before it (or after it expired or was replaced)."""

    def __init__(self) -> None:
        super().__init__("no MFA setup in progress (or it expired): run the setup first")


class NoAuthenticatorApp(AccountsError):
    """Raised when removing an authenticator app from an account that has none."""

    def __init__(self) -> None:
        super().__init__("this account has no authenticator app")


class NotPermitted(AccountsError):
    """Raised when the bearer may not do this, e.g. an API token creating another token."""


class TokenNotFound(AccountsError):
    """Raised when revoking an API token the caller does not have (or already revoked)."""

    def __init__(self) -> None:
        super().__init__("no such API token")


class SecretsKeyError(AccountsError):
    """Raised when ``secrets.key_file`` is missing, not 32 bytes, readable by group or others,
    or does not open a stored secret (a different key)."""


class InvalidTokenExpiry(AccountsError):
    """Raised when an API token's lifetime is not a positive number of seconds up to the
    longest allowed."""

    def __init__(self, longest: int) -> None:
        super().__init__(f"a token expires 1 second to {longest // 86400} days after creation")


class InvalidTokenName(AccountsError):
    """Raised when an API token name is empty, too long, or not printable."""

    def __init__(self) -> None:
        super().__init__("a token name is 1 to 64 printable characters")


class SignInExpired(AccountsError):
    """Raised by the second step of a two-step sign-in whose ticket is missing, forged or
    older than five minutes: start again with the password."""

    def __init__(self) -> None:
        super().__init__("the sign-in took too long; enter your password again")


class KeysUnavailable(AccountsError):
    """Raised by every security-key action when `api.public_url` names no host a browser
    accepts as relying party id (an IP address): the message says why; TOTP keeps working."""


class KeyNotAccepted(AccountsError):
    """Raised when a security key's answer does not verify: unknown key, wrong origin or
    relying party id, a challenge that is unknown, used, expired or not this sign-in's, or a
    bad signature. Counts as a wrong second factor."""

    def __init__(self, message: str = "the security key's answer was not accepted") -> None:
        super().__init__(message)


class KeyCounterWentBack(KeyNotAccepted):
    """Raised when a key's signature counter did not move forward: the sign of a cloned
    authenticator. Refused and audited."""

    def __init__(self) -> None:
        super().__init__(
            "the security key's signature counter went backwards (a cloned key?): refused"
        )


class KeyNotFound(AccountsError):
    """Raised when removing a security key the caller does not have."""

    def __init__(self) -> None:
        super().__init__("no such security key")
