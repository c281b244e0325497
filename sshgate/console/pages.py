"""The Console's routers, the page every route receives, and the error pages."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from sshgate import accounts as acc
from sshgate import services as svc
from sshgate.console._web import (
    ERROR_STATUS,
    ConsolePage,
    ConsoleRoute,
    CsrfRefused,
    FormTooLarge,
    SignInNeeded,
    Web,
    redirect,
)
from sshgate.logs import log
from sshgate.store import StoreError

__all__ = ["Page", "console_router", "error_page"]

UNAVAILABLE = (
    "<!doctype html><html lang=en><title>sshgate: unavailable</title>"
    "<p>The service is unavailable; try again in a moment.</p></html>"
)


async def get_page(request: Request) -> ConsolePage:
    web = request.app.state.console_web
    assert isinstance(web, Web)
    return await web.page(request)


Page = Annotated[ConsolePage, Depends(get_page)]


def console_router() -> APIRouter:
    """Console routes are HTML, outside the API's schema."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


async def error_page(request: Request, exc: Exception) -> Response:
    try:
        page = await get_page(request)
    except StoreError:  # not even the session can be read: the bare minimum
        log("console_store_unavailable", logging.ERROR, error=type(exc).__name__)
        return HTMLResponse(UNAVAILABLE, status_code=503)
    match exc:
        case SignInNeeded():
            return redirect(page, "/sign-in")
        case svc.OrgRequiresMFA():
            log("console_org_requires_mfa", org=exc.org, user_id=page.me().user.id)
            return await page.render("mfa_required.html", 403, org=exc.org)
        case RequestValidationError():
            return await page.render("error.html", 400, message="That request was malformed.")
        case acc.AccountsError() | svc.ServiceError() | CsrfRefused() | FormTooLarge():
            status, message = _status_of(exc)
            return await page.render("error.html", status, message=message or str(exc))
        case StoreError():
            log("console_store_unavailable", logging.ERROR, error=type(exc).__name__)
            status, message = _status_of(exc)
            return await page.render("error.html", status, message=message)
    log("console_server_error", logging.ERROR, error=type(exc).__name__)
    return await page.render("error.html", 500, message="Something went wrong on our side.")


def _status_of(exc: Exception) -> tuple[int, str]:
    for kind, answer in ERROR_STATUS.items():
        if isinstance(exc, kind):
            return answer
    return 400, ""
