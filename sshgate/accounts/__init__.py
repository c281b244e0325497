"""User accounts: passwords, TOTP MFA with recovery codes, security keys and passkeys
(WebAuthn), login sessions and API tokens.

The service is `Accounts` (with `Accounts.mfa` for enrollment, `Accounts.keys` for security
keys); the pure pieces (`totp`,
`recovery`, `throttle`, `bearer`, `principal`) hold the rules, the store makes them atomic.
"""

from sshgate.accounts.errors import (
    AccountsError,
    InvalidCode,
    InvalidToken,
    InvalidTokenExpiry,
    InvalidTokenName,
    KeyCounterWentBack,
    KeyNotAccepted,
    KeyNotFound,
    KeysUnavailable,
    LoginFailed,
    MFAAlreadyEnabled,
    MFANotEnabled,
    NoAuthenticatorApp,
    NoPendingSetup,
    NotPermitted,
    SecondFactorLocked,
    SecondFactorRequired,
    SecretsKeyError,
    SignInExpired,
    Throttled,
    TokenNotFound,
    WrongPassword,
)
from sshgate.accounts.mfa import MFA, SETUP_TTL, Enrollment
from sshgate.accounts.passwords import (
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)
from sshgate.accounts.principal import Principal, effective_amr
from sshgate.accounts.relying_party import RelyingParty, relying_party
from sshgate.accounts.scope import ADDING_APP_NEEDS_MFA, SCOPES, Need, lacks_mfa_login, refusal
from sshgate.accounts.secretbox import SecretBox
from sshgate.accounts.security_keys import AddedKey, Ceremony, SecurityKeys
from sshgate.accounts.service import (
    Accounts,
    CreatedToken,
    LoginResult,
    PasswordChanged,
    SignInTicket,
    end_user_access,
)
from sshgate.accounts.totp import terminal_qr

__all__ = [
    "ADDING_APP_NEEDS_MFA",
    "MFA",
    "SCOPES",
    "SETUP_TTL",
    "Accounts",
    "AccountsError",
    "AddedKey",
    "Ceremony",
    "CreatedToken",
    "Enrollment",
    "InvalidCode",
    "InvalidToken",
    "InvalidTokenExpiry",
    "InvalidTokenName",
    "KeyCounterWentBack",
    "KeyNotAccepted",
    "KeyNotFound",
    "KeysUnavailable",
    "LoginFailed",
    "LoginResult",
    "MFAAlreadyEnabled",
    "MFANotEnabled",
    "Need",
    "NoAuthenticatorApp",
    "NoPendingSetup",
    "NotPermitted",
    "PasswordChanged",
    "PasswordPolicyError",
    "Principal",
    "RelyingParty",
    "SecondFactorLocked",
    "SecondFactorRequired",
    "SecretBox",
    "SecretsKeyError",
    "SecurityKeys",
    "SignInExpired",
    "SignInTicket",
    "Throttled",
    "TokenNotFound",
    "WrongPassword",
    "check_password_policy",
    "effective_amr",
    "end_user_access",
    "hash_password",
    "lacks_mfa_login",
    "refusal",
    "relying_party",
    "terminal_qr",
    "verify_password",
]
