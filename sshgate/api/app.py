"""The HTTP API: JSON under /api/, described at /api/openapi.json.

Authentication is `Authorization: Bearer TOKEN`, where TOKEN is a login session (`sgs_...`,
from POST /api/auth/login) or an API token (`sgt_...`). The endpoints, their bodies, the
errors (one table in errors.py) and the RFC 9470 step-up answer are in docs/reference/api.md,
which tests/api/test_api_auth.py checks against the OpenAPI description.
Every response carries `Cache-Control: no-store`: many of them hold secrets shown once. A
request body over `api.max_body_bytes` gets 413 `request_too_large` before it is read, one
that does not arrive within 30 s 408 `request_timeout`. A request from a trusted proxy whose
`Forwarded` and `X-Forwarded-For` name different clients gets 400 `conflicting_forwarding`
(the Console a plain 400 page) before any route runs (sshgate.api.forwarded).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from sshgate import __version__
from sshgate.accounts import Accounts, SecretBox
from sshgate.api import (
    access,
    account,
    forwarded,
    oauth,
    org_reminders,
    orgs,
    security_keys,
    session,
    ssh,
    tokens,
)
from sshgate.api.body_limit import BodyLimit
from sshgate.api.context import ApiContext, client_address, get_context
from sshgate.api.errors import install_error_handlers
from sshgate.authority import CertificateAuthority
from sshgate.config import Config
from sshgate.console import install_console
from sshgate.logs import log
from sshgate.store import Store

__all__ = ["CONFLICTING_FORWARDING", "create_app"]

CONFLICTING_FORWARDING = (
    "The forwarding headers conflict: Forwarded and X-Forwarded-For name different clients."
)


def create_app(
    config: Config,
    store: Store,
    ca: CertificateAuthority | None,
    accounts: Accounts | None = None,
) -> FastAPI:
    """The API app. `ca` None (a process without the user CA's keys) answers certificate
    requests with 503. `accounts` defaults to one over `store` with the key from
    `secrets.key_file` (SecretsKeyError when it cannot be read) and `api.session_ttl`."""
    box = SecretBox.from_file(config.secrets.key_file)
    if accounts is None:
        accounts = Accounts(
            store, box, session_ttl=config.api.session_ttl, public_url=config.api_public_url
        )
    app = FastAPI(
        title="sshgate",
        version=__version__,
        openapi_url="/api/openapi.json",
        # The interactive docs would load scripts from a CDN; the schema is enough.
        docs_url=None,
        redoc_url=None,
    )
    app.state.sshgate = ApiContext(
        config=config,
        store=store,
        accounts=accounts,
        ca=ca,
        trusted_proxies=forwarded.networks(config.api.trusted_proxies),
    )
    install_error_handlers(app)
    for module in (
        session,
        account,
        security_keys,
        oauth,
        ssh,
        tokens,
        access,
        orgs,
        org_reminders,
    ):
        app.include_router(module.router)
    json_paths = {route.path for route in oauth.router.routes if hasattr(route, "path")}

    # Added before the Console's middleware: inside it, so its 400 page has its headers.
    @app.middleware("http")
    async def one_client(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse, before any route (no password check, no throttle slot), a request whose
        forwarding headers disagree about the client."""
        try:
            client_address(request)
        except forwarded.ConflictingForwarding:
            log("forwarding_conflict", logging.WARNING, path=request.url.path[:128])
            if request.url.path.startswith("/api/") or request.url.path in json_paths:
                return JSONResponse(
                    {"error": "conflicting_forwarding", "message": CONFLICTING_FORWARDING}, 400
                )
            return HTMLResponse(_plain_page(CONFLICTING_FORWARDING), 400)
        return await call_next(request)

    install_console(
        app, box, config.api_public_url, lambda r: get_context(r).services, client_address
    )

    @app.middleware("http")
    async def no_store(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    # Outermost: no body larger than api.max_body_bytes reaches a parser (body_limit.py).
    app.add_middleware(BodyLimit, max_bytes=config.api.max_body_bytes)
    return app


def _plain_page(message: str) -> str:
    """A page without the Console's templates (nothing about the request is trusted yet)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Bad request</title></head><body><h1>Bad request</h1><p>{message}</p>"
        "</body></html>"
    )
