"""The Console's side of `sshgate login --web`: the authorization page asks "Allow sshgate on
HOST to get SSH certificates for USER?" and sends the browser back to the CLI's loopback
address with a code (or access_denied). A signed-out browser signs in first and comes back
here (the request waits in a cookie). The rules are `sshgate.services.CliSignIn`."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from fastapi import Response
from fastapi.responses import RedirectResponse

from sshgate.console._web import SECURITY_HEADERS, ConsolePage, redirect
from sshgate.console.pages import Page, console_router
from sshgate.logs import log
from sshgate.services import DEVICE_PATH

__all__ = ["AFTER_SIGN_IN", "AUTHORIZE", "router"]

router = console_router()
AUTHORIZE = "/oauth/authorize"
AFTER_SIGN_IN = "sshgate_after_sign_in"
PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
    "host",
)
MAX_PARAM = 512


def _params(source: dict[str, str]) -> dict[str, str]:
    return {k: source[k][:MAX_PARAM] for k in PARAMS if k in source}


async def _refused(page: ConsolePage, exc: OAuth2Error) -> Response:
    message = f"this sign-in request from sshgate is not valid ({exc.error})"
    return await page.render("error.html", 400, message=message, title="Sign-in request refused")


@router.get(AUTHORIZE)
async def authorize_page(page: Page) -> Response:
    params = _params(dict(page.request.query_params))
    if page.principal is None:
        return _wait_for_sign_in(page)
    try:
        consent = page.services.cli_signin.consent(params, page.principal)
    except OAuth2Error as exc:
        return await _refused(page, exc)
    response = await page.render("allow_cli.html", consent=consent, params=params)
    # The Allow form posts here, and its answer redirects to the CLI's loopback address:
    # browsers hold a form's redirects to form-action too (RFC 8252 §7.3: 127.0.0.1, any port).
    response.headers["Content-Security-Policy"] = SECURITY_HEADERS[
        "Content-Security-Policy"
    ].replace("form-action 'self'", "form-action 'self' http://127.0.0.1:*")
    return response


@router.post(AUTHORIZE)
async def authorize(page: Page) -> Response:
    form = await page.form()
    principal = page.me()
    params = _params({k: form.get(k) for k in PARAMS})
    allow = form.get("decision") == "allow"
    try:
        location = await page.services.cli_signin.authorize(params, principal, allow)
    except OAuth2Error as exc:
        return await _refused(page, exc)
    log("cli_sign_in", user_id=principal.user.id, allowed=allow, client=page.client)
    return page.finish(RedirectResponse(location, status_code=303))


def after_sign_in(page: ConsolePage) -> str | None:
    """The sign-in request (browser or device) that sent a signed-out browser to sign in."""
    waiting = page.request.cookies.get(AFTER_SIGN_IN, "")
    if len(waiting) >= 4096:
        return None
    if waiting.startswith(AUTHORIZE + "?") or waiting.startswith(DEVICE_PATH):
        return waiting
    return None


def _wait_for_sign_in(page: ConsolePage) -> Response:
    response = redirect(page, "/sign-in")
    target = str(page.request.url.path)
    if page.request.url.query:
        target += "?" + str(page.request.url.query)
    response.set_cookie(
        AFTER_SIGN_IN,
        target,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=page.web.secure(page.request),
    )
    return response


@router.get(DEVICE_PATH)
async def device_page(page: Page) -> Response:
    """An empty code field whatever the link says: the person types the code their own
    terminal shows (a `?user_code=` from someone else's link is never filled in)."""
    if page.principal is None:
        return _wait_for_sign_in(page)
    return await page.render("device.html", user_code="", request=None, message="")


@router.post(DEVICE_PATH)
async def device_decision(page: Page) -> Response:
    """ "Continue" shows when and from which address the request was started; "Allow" or
    "Deny" then decides it once."""
    form = await page.form()
    principal = page.me()
    code = form.get("user_code")[:16]
    decision = form.get("decision")
    unknown = "That code is unknown, expired or already used: run sshgate login --device again."
    if decision not in ("allow", "deny"):
        request = await page.services.cli_signin.device_request(code)
        if request is None:
            return await page.render(
                "device.html", 400, user_code=code, request=None, message=unknown
            )
        return await page.render(
            "device.html", user_code=request.user_code, request=request, message=""
        )
    approve = decision == "allow"
    decided = await page.services.cli_signin.decide_device(code, principal, approve)
    log("cli_device", user_id=principal.user.id, allowed=approve, decided=decided)
    if not decided:
        return await page.render("device.html", 400, user_code=code, request=None, message=unknown)
    done = "sshgate may now get SSH certificates for you: go back to the terminal."
    denied = "Denied: that sshgate gets nothing."
    return await page.render(
        "device.html", user_code="", request=None, message=done if approve else denied
    )
