"""POST /oauth/token: the token endpoint of `sshgate login --web` (RFC 6749 §4.1.3 with RFC
7636's code_verifier), form-encoded as OAuth wants. The answer is RFC 6749's JSON, with the
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


@router.post("/oauth/token")
async def token(request: Request, context: Context) -> JSONResponse:
    """Exchange an authorization code (once) and its PKCE verifier for a login session."""
    body = await request.body()
    form: dict[str, str] = {}
    if len(body) <= MAX_FORM:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=16))
    client = client_address(request)
    answer = await context.services.cli_signin.token(form, client)
    log("cli_token", status=answer.status, error=answer.body.get("error", ""), client=client)
    return JSONResponse(answer.body, status_code=answer.status, headers={"Pragma": "no-cache"})
