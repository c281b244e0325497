"""Sign in (username and password, then the Authentication code step when the account has
MFA) and Sign out. The session is the accounts service's login session, as for the API."""

from __future__ import annotations

from fastapi import Response

from sshgate import accounts as acc
from sshgate.accounts import LoginResult, SignInTicket
from sshgate.console._web import ConsolePage, redirect
from sshgate.console.cli_signin import AFTER_SIGN_IN, after_sign_in
from sshgate.console.pages import Page, console_router
from sshgate.logs import log

__all__ = ["code_step", "router", "signed_in_page"]

router = console_router()
MAX_FIELD = 256


@router.get("/")
async def home(page: Page) -> Response:
    return redirect(page, "/projects" if page.principal else "/sign-in")


@router.get("/sign-in")
async def sign_in_form(page: Page) -> Response:
    if page.principal is not None:
        return redirect(page, "/projects")
    return await page.render("sign_in.html")


@router.post("/sign-in")
async def sign_in(page: Page) -> Response:
    form = await page.form()
    username, password = form.get("username")[:MAX_FIELD], form.get("password")[:MAX_FIELD]
    try:
        result = await page.services.accounts.begin_login(username, password, page.client)
    except (acc.LoginFailed, acc.Throttled) as exc:
        _refused(page, exc)
        status = 429 if isinstance(exc, acc.Throttled) else 401
        return await page.render("sign_in.html", status, error=str(exc), username=username)
    if isinstance(result, SignInTicket):
        return await code_step(page, result.ticket)
    return signed_in_page(page, result)


async def code_step(page: ConsolePage, ticket: str, error: str = "", status: int = 200) -> Response:
    return await page.render(
        "sign_in_code.html",
        status,
        ticket=ticket,
        error=error,
        steps=page.web.second_factor_steps,
    )


@router.post("/sign-in/code")
async def sign_in_code(page: Page) -> Response:
    form = await page.form()
    ticket, code = form.get("ticket")[:1024], form.get("code")[:MAX_FIELD]
    try:
        result = await page.services.accounts.finish_login(ticket, code, page.client)
    except acc.SignInExpired as exc:
        _refused(page, exc)
        return await page.render("sign_in.html", 401, error=str(exc), username="")
    except (acc.InvalidCode, acc.SecondFactorLocked) as exc:
        _refused(page, exc)
        status = 429 if isinstance(exc, acc.SecondFactorLocked) else 401
        return await code_step(page, ticket, str(exc), status)
    return signed_in_page(page, result)


@router.post("/sign-out")
async def sign_out(page: Page) -> Response:
    await page.form()
    principal = page.principal
    if principal is not None:
        await page.services.accounts.logout(principal)
        log("logout", user_id=principal.user.id, session=principal.jti, via="console")
    page.signed_out()
    return redirect(page, "/sign-in")


def signed_in_page(page: ConsolePage, result: LoginResult) -> Response:
    """Sign the browser in with `result` and go to Projects (every way of signing in), or
    back to the `sshgate login --web` request that sent the browser to sign in."""
    max_age = max(0, int(result.expires_at - page.services.now()))
    page.signed_in(result.token, max_age)
    log(
        "login", user_id=result.user.id, amr=",".join(result.amr), client=page.client, via="console"
    )
    waiting = after_sign_in(page)
    if waiting is None:
        return redirect(page, "/projects")
    response = redirect(page, waiting)
    response.delete_cookie(AFTER_SIGN_IN)
    return response


def _refused(page: ConsolePage, exc: Exception) -> None:
    # No username here: people type their password into the username field.
    log("login_refused", reason=type(exc).__name__, client=page.client, via="console")
