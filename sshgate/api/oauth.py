"""POST /oauth/token: the token endpoint of `sshgate login --web` (RFC 6749 §4.1.3 with RFC
7636's code_verifier) and `sshgate login --device` (RFC 8628 §3.4, after POST
/oauth/device_authorization), form-encoded as OAuth wants. The answer is RFC 6749's JSON, with the
new login session's bearer as `access_token` and its `amr`; errors are RFC 6749 §5.2's
(`invalid_grant` for a code that is unknown, used, expired, or whose verifier or redirect
URI does not match). The rules are `sshgate.services.CliSignIn`."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sshgate.api.context import Context, client_address
from sshgate.logs import log

__all__ = ["router"]

router = APIRouter(tags=["session"])
MAX_FORM = 4096


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=16))


@router.post("/oauth/device_authorization")
async def device_authorization(request: Request, context: Context) -> JSONResponse:
    """RFC 8628 §3.1: a device code for `sshgate login --device`, a user code to type at
    verification_uri, how long they last and how often to poll."""
    answer = await context.services.cli_signin.device_authorization(
        await _form(request), client_address(request)
    )
    return JSONResponse(answer.body, status_code=answer.status, headers={"Pragma": "no-cache"})


@router.post("/oauth/token")
async def token(request: Request, context: Context) -> JSONResponse:
    """Exchange an authorization code (once) and its PKCE verifier for a login session."""
    form = await _form(request)
    client = client_address(request)
    answer = await context.services.cli_signin.token(form, client)
    log("cli_token", status=answer.status, error=answer.body.get("error", ""), client=client)
    return JSONResponse(answer.body, status_code=answer.status, headers={"Pragma": "no-cache"})
