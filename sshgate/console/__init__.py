"""The Console: the web pages of the API role, at the root of `api.public_url`, beside the
JSON API under /api/. Server-rendered HTML (Jinja2), one stylesheet and a few lines of
JavaScript that only add comfort: every flow works without it and by keyboard alone.

A page is a shell like an API route: it gathers the form, calls the service layer
(`sshgate.services`, `sshgate.accounts.Accounts`) and renders the answer. `_web.py` holds
what every page shares (session cookie, CSRF, security headers); `Web.second_factor_steps`
and `Web.profile_sections` are where other sign-in factors and profile sections plug in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from sshgate.accounts import SecretBox
from sshgate.console import cli_signin, keys, orgs, profile, signin, tokens
from sshgate.console._web import SECURITY_HEADERS, Web
from sshgate.console.pages import error_page
from sshgate.services import Services

__all__ = ["SECURITY_HEADERS", "Web", "install_console"]


def install_console(
    app: FastAPI,
    box: SecretBox,
    public_url: str,
    services_of: Callable[[Request], Services],
    client_of: Callable[[Request], str],
) -> Web:
    """Add the Console's pages and /static/ to `app`, and the security headers to every
    response of it (the API's too: they cost nothing there). `services_of` and `client_of`
    are the app's: the request's services and the client's address."""
    web = Web(box, public_url, services_of, client_of)
    app.state.console_web = web
    app.state.console_error_page = error_page
    web.second_factor_steps.insert(0, keys.KEY_STEP)
    web.profile_sections.insert(1, keys.KEYS_SECTION)
    for module in (signin, keys, cli_signin, profile, tokens, orgs):
        app.include_router(module.router)
    static = files("sshgate.console").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return web
