"""What every route needs, handed over by FastAPI dependencies: the services (`ApiContext`),
the authenticated caller (`CurrentPrincipal`) and the client's address.

The client address is the TCP peer (uvicorn runs with proxy headers off, so a client cannot
choose the address that the password throttle, the audit and `ca.bind_source_address`
see), unless the peer is one of `api.trusted_proxies`: then its forwarding headers say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sshgate.accounts import Accounts, Need, NotPermitted, Principal, refusal
from sshgate.api import forwarded
from sshgate.api.errors import BEARER, ApiError
from sshgate.authority import CertificateAuthority
from sshgate.config import Config
from sshgate.services import Services
from sshgate.store import Store

__all__ = [
    "ApiContext",
    "CertificatePrincipal",
    "Context",
    "CurrentPrincipal",
    "SessionPrincipal",
    "client_address",
    "current_principal",
]


@dataclass(frozen=True)
class ApiContext:
    config: Config
    store: Store
    accounts: Accounts
    ca: CertificateAuthority | None  # None in a process without the user CA's keys
    # The routes' clock (reminder times, the one-hour rule); tests replace it.
    now: Callable[[], float] = field(default=time.time)
    # api.trusted_proxies: the peers whose forwarding headers name the client
    trusted_proxies: tuple[forwarded.Network, ...] = ()

    @property
    def services(self) -> Services:
        """The one service layer, over this context's store, configuration and clock."""
        return Services(self.config, self.store, self.accounts, self.now)


def get_context(request: Request) -> ApiContext:
    context = request.app.state.sshgate
    assert isinstance(context, ApiContext)
    return context


Context = Annotated[ApiContext, Depends(get_context)]

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="sgs_... (login session) or sgt_... (API token)",
    description="The token from POST /api/auth/login, or an API token",
)


async def current_principal(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "authentication required: send Authorization: Bearer TOKEN",
            BEARER,
        )
    return await context.accounts.session_from_token(credentials.credentials)


def _needing(need: Need) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        refused = refusal(principal, need)
        if refused is not None:
            raise NotPermitted(refused)
        return principal

    return check


# What a route needs of its bearer (sshgate.accounts.scope): everything the user may do, by
# default, so that a new route is closed to certificate-scope tokens unless it says so.
CurrentPrincipal = Annotated[Principal, Depends(_needing(Need.ACCOUNT))]
CertificatePrincipal = Annotated[Principal, Depends(_needing(Need.CERTIFICATE))]
SessionPrincipal = Annotated[Principal, Depends(_needing(Need.SESSION))]


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or, when the peer is one of `api.trusted_proxies`,
    the address its forwarding headers name (sshgate.api.forwarded)."""
    peer = request.client.host if request.client is not None else ""
    trusted = get_context(request).trusted_proxies
    if not trusted:
        return peer
    headers = request.headers
    return forwarded.client_address(
        peer, trusted, headers.getlist("forwarded"), headers.getlist("x-forwarded-for")
    )
