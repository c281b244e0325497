"""User accounts: passwords, and (see the accounts issue) TOTP MFA, sessions and tokens."""

from sshgate.accounts.passwords import (
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)

__all__ = ["PasswordPolicyError", "check_password_policy", "hash_password", "verify_password"]
