"""The JSON bodies of the API, as pydantic models: they validate requests and document the
responses in /api/openapi.json. Times in responses are ISO 8601 in UTC (`...Z`).

Request limits are generous but finite, so that no field can carry megabytes; the services
apply the product's own rules (password policy, token names, key types) on top.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, model_validator

from sshgate.policy import MFALevel

__all__ = [
    "AccessResponse",
    "AccountResponse",
    "AddKeyRequest",
    "AddedKeyResponse",
    "AuthorityResponse",
    "CertificateRequest",
    "CertificateResponse",
    "CodeRequest",
    "ErrorResponse",
    "GatewayInfo",
    "KeyCeremony",
    "KeySignInFinish",
    "KeySignInOptions",
    "KeySignInRequest",
    "LoginRequest",
    "LoginResponse",
    "MFADisableRequest",
    "MFADisableResponse",
    "MFARequiredRequest",
    "MFARequiredResponse",
    "MFASetupResponse",
    "MFAVerifyResponse",
    "MemberSecurityItem",
    "OrgAccess",
    "PasswordChangeRequest",
    "PasswordChangeResponse",
    "ProjectAccess",
    "RecoveryCodesResponse",
    "RemindRequest",
    "RemindResponse",
    "RemoveKeyRequest",
    "RemoveKeyResponse",
    "SecurityKeyItem",
    "SecurityKeysResponse",
    "SecurityResponse",
    "TokenCreateRequest",
    "TokenCreatedResponse",
    "TokenItem",
    "TokenListResponse",
    "UserRef",
    "iso",
]

# Longer than any valid value, so that the service, not the schema, says what is wrong
# (and a wrong password costs the same work whatever its length).
Secret = Annotated[str, Field(max_length=4096)]
Code = Annotated[str, Field(max_length=64, description="A 6-digit TOTP code or a recovery code")]


def iso(moment: float | None) -> str | None:
    """Unix time as `2026-11-27T21:10:48Z`."""
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class ErrorResponse(BaseModel):
    error: str = Field(description="A stable machine-readable code, e.g. invalid_token")
    message: str = Field(description="One line for people")


class LoginRequest(BaseModel):
    username: Annotated[str, Field(max_length=256)]
    password: Secret
    totp: Code | None = Field(
        default=None, description="TOTP or recovery code; required when the account has MFA"
    )


class UserRef(BaseModel):
    id: str
    username: str


class LoginResponse(BaseModel):
    token: str = Field(description="The session's bearer token (sgs_...); shown once")
    expires_at: str
    amr: list[str]
    user: UserRef


class AccountResponse(BaseModel):
    id: str
    username: str
    email: str
    mfa: bool
    mfa_since: str | None
    amr: list[str] = Field(description="What this bearer's login proved, as it counts now")
    bearer: str = Field(description='"session" or "token"')
    expires_at: str | None = Field(description="When the login session ends; null for tokens")


class PasswordChangeRequest(BaseModel):
    old_password: Secret
    new_password: Secret


class PasswordChangeResponse(BaseModel):
    sessions_ended: int
    certificates_revoked: int
    tokens_revoked: int


class MFASetupResponse(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class CodeRequest(BaseModel):
    code: Code


class MFAVerifyResponse(BaseModel):
    mfa: bool
    recovery_codes: list[str] = Field(
        description="10 new recovery codes, shown once; empty when MFA was already on (through"
        " security keys) and the user's unused recovery codes were kept"
    )


class MFADisableRequest(BaseModel):
    password: Secret
    code: Code


class MFADisableResponse(BaseModel):
    mfa: bool
    sessions_ended: int


class RecoveryCodesResponse(BaseModel):
    recovery_codes: list[str]


class CertificateRequest(BaseModel):
    key: Annotated[str, Field(max_length=16384, description="An OpenSSH public key line")]
    ttl: StrictInt | None = Field(default=None, description="Lifetime in seconds")


class CertificateResponse(BaseModel):
    certificate: str
    serial: int
    valid_after: str
    valid_before: str
    amr: list[str]


class GatewayInfo(BaseModel):
    host: str
    port: int
    host_keys: list[str]


class AuthorityResponse(BaseModel):
    trusted_ca_keys: list[str]
    gateway: GatewayInfo


class TokenCreateRequest(BaseModel):
    name: Annotated[str, Field(max_length=256)]
    scope: Annotated[
        Literal["certificate", "account"],
        Field(
            description="certificate (issue certificates, read whoami; the default) or account"
            " (everything the user may do; from a login with mfa when the user has MFA)",
        ),
    ] = "certificate"
    expires_in: Annotated[
        int | None, Field(description="Seconds until the token ends; none: until revoked")
    ] = None


class TokenCreatedResponse(BaseModel):
    id: str
    token: str = Field(description="The API token (sgt_...); shown once")
    name: str
    amr: list[str]
    scope: str
    created_at: str
    expires_at: str | None


class TokenItem(BaseModel):
    id: str
    name: str
    created_at: str
    amr: list[str]
    scope: str
    expires_at: str | None
    last_used_at: str | None


class TokenListResponse(BaseModel):
    items: list[TokenItem]


class OrgAccess(BaseModel):
    name: str
    role: str
    mfa_required: bool
    mfa_level: MFALevel
    mfa_missing: bool = Field(
        description="The org requires MFA and this bearer lacks it: its projects are not listed"
    )


class ProjectAccess(BaseModel):
    id: str
    title: str
    org: str
    role: str
    git_remote: str | None
    services: list[str]


class AccessResponse(BaseModel):
    orgs: list[OrgAccess]
    projects: list[ProjectAccess]


class MemberSecurityItem(BaseModel):
    username: str
    email: str
    role: str = Field(description="owner, admin or member")
    mfa: bool = Field(description="The member's account has MFA enabled")
    factors: list[str] = Field(
        description='Second factors the member can sign in with: "totp" (authenticator app),'
        ' "webauthn" (security key or passkey)'
    )
    mfa_since: str | None
    last_reminded: str | None = Field(description="When the last MFA reminder was sent")


class SecurityResponse(BaseModel):
    items: list[MemberSecurityItem]


class MFARequiredRequest(BaseModel):
    required: StrictBool
    level: MFALevel = Field(
        MFALevel.ANY,
        description='Which logins count: "any" second factor, or "phishing-resistant" (a'
        " security key or passkey)",
    )


class MFARequiredResponse(BaseModel):
    org: str
    mfa_required: bool
    mfa_level: MFALevel
    sessions_to_close: int = Field(
        description="Open sessions of users without MFA that the gateways will close"
    )


Username = Annotated[str, Field(max_length=64)]
MAX_REMINDER_USERS = 1000


class RemindRequest(BaseModel):
    users: list[Username] | None = Field(
        default=None, max_length=MAX_REMINDER_USERS, description="Usernames to remind"
    )
    all: StrictBool = Field(default=False, description="Remind every member without MFA")
    force: StrictBool = Field(default=False, description="Ignore the one-hour rule")

    @model_validator(mode="after")
    def one_selection(self) -> RemindRequest:
        if self.all == bool(self.users):
            raise ValueError('give either "users" (a non-empty list) or "all": true')
        return self


class RemindResponse(BaseModel):
    sent: list[str]
    skipped: list[str]
    failed: list[str]
    reasons: dict[str, str] = Field(description="username -> why it was skipped or failed")


# security keys and passkeys (WebAuthn)

KeyName = Annotated[str, Field(max_length=256)]
ChallengeId = Annotated[str, Field(max_length=64)]


class KeyCeremony(BaseModel):
    challenge_id: str
    options: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptions or ...RequestOptions, JSON-encoded"
        " as WebAuthn Level 3 parseCreationOptionsFromJSON/parseRequestOptionsFromJSON take"
    )


class KeySignInOptions(KeyCeremony):
    ticket: str = Field(description="This sign-in's ticket: send it back with the answer")


class KeySignInRequest(BaseModel):
    username: Annotated[str, Field(max_length=256)]
    password: Secret


class KeySignInFinish(BaseModel):
    ticket: Secret
    challenge_id: ChallengeId
    credential: dict[str, Any] = Field(description="The browser's PublicKeyCredential.toJSON()")


class AddKeyRequest(BaseModel):
    challenge_id: ChallengeId
    credential: dict[str, Any] = Field(description="The browser's PublicKeyCredential.toJSON()")
    name: KeyName | None = None


class SecurityKeyItem(BaseModel):
    id: str
    name: str
    created_at: str
    last_used_at: str | None


class AddedKeyResponse(SecurityKeyItem):
    recovery_codes: list[str] | None = Field(
        description="When this first key turned MFA on: the recovery codes, shown once"
    )


class SecurityKeysResponse(BaseModel):
    items: list[SecurityKeyItem]


class RemoveKeyRequest(BaseModel):
    password: Secret
    code: Code | None = Field(
        default=None, description="For the last key: an authenticator or recovery code"
    )


class RemoveKeyResponse(BaseModel):
    sessions_ended: int
