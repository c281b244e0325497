"""Every error the API answers with: JSON `{"error": CODE, "message": TEXT}`, the HTTP status
and headers that go with it, in one table.

Nothing here echoes a request: validation errors name the field and the rule, never the
value (which may be a password, a code or a token), and unexpected exceptions are logged by
type only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sshgate import accounts as acc
from sshgate import services as svc
from sshgate.accounts import PasswordPolicyError, Principal
from sshgate.ca import CAError, KeyFileError, KeyRejected, TTLRefused
from sshgate.logs import log
from sshgate.policy import Organization
from sshgate.services import missing_amr
from sshgate.store import StoreError

__all__ = [
    "MFA_REQUIRED_MESSAGE",
    "ApiError",
    "install_error_handlers",
    "org_needs_mfa",
    "require_mfa_for_org",
]

MFA_REQUIRED_MESSAGE = (
    "Multifactor authentication (MFA) is required."
    " The API token may need to be re-created after enabling MFA."
)
BEARER = {"WWW-Authenticate": "Bearer"}


class ApiError(Exception):
    """An answer other than success, raised anywhere below a route."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> JSONResponse:
        body = {"error": self.error, **self.extra, "message": self.message}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def org_needs_mfa(principal: Principal, org: Organization) -> bool:
    """True when `org` requires MFA and the caller's bearer does not carry it (now)."""
    return missing_amr(principal, org) is not None


def insufficient_authentication(amr: tuple[str, ...]) -> ApiError:
    """RFC 9470's step-up answer: the org requires `amr` and the bearer lacks it."""
    return ApiError(
        401,
        "insufficient_user_authentication",
        MFA_REQUIRED_MESSAGE,
        headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
        extra={"amr": list(amr)},
    )


def require_mfa_for_org(principal: Principal, org: Organization) -> None:
    """Guard for the resources of an organization (its projects, members, security
    settings): refuses a bearer without `mfa` when the org requires MFA, with RFC 9470's
    step-up answer. A user's own account endpoints must not call this, so users can comply."""
    missing = missing_amr(principal, org)
    if missing is not None:
        raise insufficient_authentication(missing)


def _retry(seconds: int) -> dict[str, str]:
    return {"Retry-After": str(seconds)}


def from_exception(exc: Exception) -> ApiError | None:
    """The API's answer to a known service error; None for anything unexpected."""
    match exc:
        case ApiError():
            return exc
        case svc.OrgRequiresMFA():
            return insufficient_authentication(exc.amr)
        case svc.Forbidden():
            return ApiError(403, "forbidden", str(exc), extra={"rule": exc.rule})
        case svc.NotFound():
            return ApiError(404, "not_found", str(exc))
        case svc.InvalidRequest():
            return ApiError(400, "invalid_request", str(exc))
        case acc.LoginFailed():
            return ApiError(401, "invalid_credentials", str(exc), BEARER)
        case acc.SecondFactorRequired():
            return ApiError(401, "mfa_code_required", str(exc), BEARER)
        case acc.InvalidToken():
            return ApiError(401, "invalid_token", str(exc), {"WWW-Authenticate": _INVALID})
        case acc.Throttled():
            return ApiError(429, "throttled", str(exc), _retry(exc.retry_after))
        case acc.SecondFactorLocked():
            return ApiError(429, "second_factor_locked", str(exc), _retry(exc.retry_after))
        case acc.InvalidCode():
            return ApiError(400, "invalid_code", str(exc))
        case acc.WrongPassword():
            return ApiError(403, "wrong_password", str(exc))
        case acc.NotPermitted():
            return ApiError(403, "forbidden", str(exc))
        case acc.TokenNotFound():
            return ApiError(404, "not_found", str(exc))
        case acc.MFAAlreadyEnabled():
            return ApiError(409, "mfa_enabled", str(exc))
        case acc.MFANotEnabled():
            return ApiError(409, "mfa_not_enabled", str(exc))
        case acc.NoPendingSetup():
            return ApiError(409, "no_pending_setup", str(exc))
        case acc.NoAuthenticatorApp():
            return ApiError(409, "no_authenticator_app", str(exc))
        case acc.InvalidTokenName() | acc.InvalidTokenExpiry():
            return ApiError(400, "invalid_request", str(exc))
        case acc.KeysUnavailable():
            return ApiError(409, "keys_unavailable", str(exc))
        case acc.KeyNotAccepted():
            return ApiError(400, "key_not_accepted", str(exc))
        case acc.KeyNotFound():
            return ApiError(404, "not_found", str(exc))
        case PasswordPolicyError():
            return ApiError(400, "weak_password", str(exc))
        case KeyRejected():
            return ApiError(400, "invalid_key", _one_line(exc))
        case TTLRefused():
            return ApiError(400, "invalid_ttl", _one_line(exc))
        case KeyFileError():
            log("api_ca_unavailable", logging.ERROR, error=str(exc))
            return ApiError(503, "ca_unavailable", "the certificate authority is unavailable")
        case StoreError():
            log("api_store_unavailable", logging.ERROR, error=type(exc).__name__)
            return ApiError(503, "store_unavailable", "the store is unavailable; try again")
        case acc.SecretsKeyError() | CAError():
            log("api_server_error", logging.ERROR, error=str(exc))
            return ApiError(500, "server_error", "internal error")
    return None


_INVALID = 'Bearer error="invalid_token"'
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        answer = from_exception(exc)
        if answer is None:
            log("api_server_error", logging.ERROR, error=type(exc).__name__)
            answer = ApiError(500, "server_error", "internal error")
        return answer.response()

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return ApiError(422, "invalid_request", _validation_message(exc)).response()

    async def http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        return ApiError(exc.status_code, code, str(exc.detail), exc.headers).response()

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http)
    for kind in (
        ApiError,
        svc.ServiceError,
        acc.AccountsError,
        PasswordPolicyError,
        CAError,
        StoreError,
    ):
        app.add_exception_handler(kind, known)
    app.add_exception_handler(Exception, known)
