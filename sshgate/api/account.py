"""The caller's own account: GET /api/account, the password, and MFA (setup, verify,
remove the authenticator app, disable, recovery codes). These stay open to a bearer without
`mfa` on purpose: they are how a user comes to comply with an organization's MFA
requirement."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sshgate.api.context import (
    CertificatePrincipal,
    Context,
    SessionPrincipal,
    client_address,
)
from sshgate.api.schemas import (
    AccountResponse,
    CodeRequest,
    MFADisableRequest,
    MFADisableResponse,
    MFASetupResponse,
    MFAVerifyResponse,
    PasswordChangeRequest,
    PasswordChangeResponse,
    RecoveryCodesResponse,
    iso,
)
from sshgate.logs import log

router = APIRouter(prefix="/api/account", tags=["account"])


@router.get("", response_model=AccountResponse)
async def account(principal: CertificatePrincipal) -> AccountResponse:
    user = principal.user
    return AccountResponse(
        id=user.id,
        username=user.username,
        email=user.email,
        mfa=user.mfa_enabled,
        mfa_since=iso(user.mfa_since),
        amr=list(principal.amr),
        bearer=principal.kind,
        expires_at=iso(principal.expires_at),
    )


@router.post("/password", response_model=PasswordChangeResponse)
async def change_password(
    body: PasswordChangeRequest, principal: SessionPrincipal, request: Request, context: Context
) -> PasswordChangeResponse:
    """Ends every login session and API token of the user (this session too: log in again)
    and revokes the user's certificates. Needs a login session, not a token."""
    changed = await context.accounts.change_password(
        principal.user, body.old_password, body.new_password, client_address(request)
    )
    log("password_changed", user_id=principal.user.id, sessions_ended=changed.sessions_ended)
    return PasswordChangeResponse(
        sessions_ended=changed.sessions_ended,
        certificates_revoked=changed.certificates_revoked,
        tokens_revoked=changed.tokens_revoked,
    )


@router.post("/mfa/setup", response_model=MFASetupResponse)
async def mfa_setup(principal: SessionPrincipal, context: Context) -> MFASetupResponse:
    """Start enrolling an authenticator app; it is no second factor (and MFA stays off)
    until /mfa/verify. A user whose MFA is on through security keys may add one from a login
    with MFA; 409 when an app is already set up."""
    enrollment = await context.accounts.mfa.begin_setup(principal.user, principal.has_mfa)
    return MFASetupResponse(
        secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri, qr_svg=enrollment.qr_svg
    )


@router.post("/mfa/verify", response_model=MFAVerifyResponse)
async def mfa_verify(
    body: CodeRequest, principal: SessionPrincipal, context: Context
) -> MFAVerifyResponse:
    """The "Verify & save" step: enables MFA after one correct code and returns 10 recovery
    codes, once. Log in again (`sshgate login -f`) for a session whose certificates carry
    `mfa`. For a user whose MFA was on through security keys the app is added and their
    unused recovery codes are kept (`recovery_codes` is then empty)."""
    codes = await context.accounts.mfa.verify_setup(principal.user, body.code, principal.has_mfa)
    log("mfa_enabled", user_id=principal.user.id)
    return MFAVerifyResponse(mfa=True, recovery_codes=codes)


@router.post("/mfa/disable", response_model=MFADisableResponse)
async def mfa_disable(
    body: MFADisableRequest, principal: SessionPrincipal, request: Request, context: Context
) -> MFADisableResponse:
    """Needs the password and a current code; ends every login session of the user."""
    ended = await context.accounts.mfa.disable(
        principal.user, body.password, body.code, client_address(request)
    )
    log("mfa_disabled", user_id=principal.user.id, sessions_ended=ended)
    return MFADisableResponse(mfa=False, sessions_ended=ended)


@router.post("/mfa/remove-app", response_model=MFADisableResponse)
async def mfa_remove_app(
    body: MFADisableRequest, principal: SessionPrincipal, request: Request, context: Context
) -> MFADisableResponse:
    """Remove the authenticator app (password and a current code). MFA stays on while a
    security key is left; with the last factor it goes off and the user's sessions end."""
    removed = await context.accounts.mfa.remove_app(
        principal.user, body.password, body.code, client_address(request)
    )
    log("mfa_app_removed", user_id=principal.user.id, sessions_ended=removed.sessions_ended)
    return MFADisableResponse(mfa=not removed.mfa_off, sessions_ended=removed.sessions_ended)


@router.post("/mfa/recovery-codes", response_model=RecoveryCodesResponse)
async def recovery_codes(
    body: CodeRequest, principal: SessionPrincipal, context: Context
) -> RecoveryCodesResponse:
    """New recovery codes for a current code (TOTP or recovery); the old ones stop working."""
    codes = await context.accounts.mfa.new_recovery_codes(principal.user, body.code)
    log("recovery_codes_replaced", user_id=principal.user.id)
    return RecoveryCodesResponse(recovery_codes=codes)
