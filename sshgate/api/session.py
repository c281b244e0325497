"""Logging in and out: POST /api/auth/login, POST /api/auth/logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sshgate.accounts import AccountsError, InvalidCode, LoginResult
from sshgate.api.context import CertificatePrincipal, Context, client_address
from sshgate.api.errors import BEARER, ApiError
from sshgate.api.schemas import ErrorResponse, LoginRequest, LoginResponse, UserRef, iso
from sshgate.logs import log

router = APIRouter(prefix="/api/auth", tags=["session"])
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Wrong credentials, or a code is needed"},
    429: {"model": ErrorResponse, "description": "Throttled, or the second factor is locked"},
}


@router.post("/login", response_model=LoginResponse, responses=_ERRORS)
async def login(body: LoginRequest, request: Request, context: Context) -> LoginResponse:
    """Open a login session. With MFA enabled, `totp` (a TOTP or recovery code) is required:
    without it the answer is 401 `mfa_code_required`, and only once the password was right."""
    client = client_address(request)
    try:
        result = await context.accounts.login(body.username, body.password, body.totp, client)
    except InvalidCode as exc:
        # The same code as elsewhere, but 401: this request authenticates nobody.
        log("login_refused", reason="invalid_code", client=client)
        raise ApiError(401, "invalid_code", str(exc), BEARER) from None
    except AccountsError as exc:
        # No username here: people type their password into the username field.
        log("login_refused", reason=type(exc).__name__, client=client)
        raise
    return login_answer(result, client)


def login_answer(result: LoginResult, client: str) -> LoginResponse:
    """What every way of logging in answers (password and code, or password and key)."""
    log("login", user_id=result.user.id, amr=",".join(result.amr), client=client)
    return LoginResponse(
        token=result.token,
        expires_at=iso(result.expires_at) or "",
        amr=list(result.amr),
        user=UserRef(id=result.user.id, username=result.user.username),
    )


@router.post("/logout", status_code=204, response_class=Response)
async def logout(principal: CertificatePrincipal, context: Context) -> Response:
    """End the caller's login session (an API token is revoked with DELETE /api/tokens/ID)."""
    await context.accounts.logout(principal)
    log("logout", user_id=principal.user.id, session=principal.jti)
    return Response(status_code=204)
