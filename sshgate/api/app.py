"""The HTTP API: JSON under /api/, described at /api/openapi.json.

Authentication is `Authorization: Bearer TOKEN`, where TOKEN is a login session (`sgs_...`,
from POST /api/auth/login) or an API token (`sgt_...`). A token of scope `certificate` may
only issue certificates and read /api/account and /api/me/access; /api/account/password,
/api/account/mfa/* and /api/tokens need a login session (403 `forbidden` otherwise).
Times are ISO 8601 in UTC. Errors are
`{"error": CODE, "message": TEXT}` (401 invalid_token / unauthorized with
`WWW-Authenticate: Bearer`; 429 with `Retry-After`; 422 invalid_request for a malformed body).

Endpoints (request body -> response body):

    POST   /api/auth/login                {username, password, totp?}
           -> {token, expires_at, amr, user: {id, username}}
    POST   /api/auth/logout               -> 204
    GET    /api/account
           -> {id, username, email, mfa, mfa_since, amr, bearer, expires_at}
    POST   /api/account/password          {old_password, new_password}
           -> {sessions_ended, certificates_revoked, tokens_revoked}
    POST   /api/account/mfa/setup         -> {secret, otpauth_uri, qr_svg}
    POST   /api/account/mfa/verify        {code} -> {mfa: true, recovery_codes}
    POST   /api/account/mfa/disable       {password, code} -> {mfa: false, sessions_ended}
    POST   /api/account/mfa/recovery-codes {code} -> {recovery_codes}
    POST   /api/ssh/certificate           {key, ttl?}
           -> {certificate, serial, valid_after, valid_before, amr}
    GET    /api/ssh/authority (no login)  -> {trusted_ca_keys, gateway: {host, port, host_keys}}
    POST   /api/tokens                    {name, scope?, expires_in?}
           -> 201 {id, token, name, amr, scope, created_at, expires_at}
    GET    /api/tokens
           -> {items: [{id, name, created_at, amr, scope, expires_at, last_used_at}]}
    DELETE /api/tokens/{id}               -> 204
    GET    /api/me/access
           -> {orgs: [{name, role, mfa_required, mfa_level, mfa_missing}],
               projects: [{id, title, org, role, git_remote, services}]}
    GET    /api/orgs/{org}/security
           -> {items: [{username, email, role, mfa, factors, mfa_since, last_reminded}]}
    PUT    /api/orgs/{org}/mfa-required   {required, level} -> {org, mfa_required, mfa_level,
                                                              sessions_to_close}
    POST   /api/orgs/{org}/reminders      {users: [...]} or {all: true}, force?
           -> {sent, skipped, failed, reasons}

The /api/orgs routes answer 404 `not_found` for an org that does not exist and for one the
caller is not a member of alike, then 401 `insufficient_user_authentication` when the org
requires MFA and the bearer lacks it, then 403 `forbidden` (with `rule`: role, addon or
switcher-mfa) for what the caller may not do.

Login failures: 401 `invalid_credentials` (the same for an unknown user and a wrong password),
401 `mfa_code_required` (password right, MFA on, no code), 401 `invalid_code`, 429
`throttled`, 429 `second_factor_locked`. Organization resources guard themselves with
`require_mfa_for_org` (RFC 9470 step-up: 401 `insufficient_user_authentication`).
Every response carries `Cache-Control: no-store`: many of them hold secrets shown once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from sshgate import __version__
from sshgate.accounts import Accounts, SecretBox
from sshgate.api import access, account, org_reminders, orgs, session, ssh, tokens
from sshgate.api.context import ApiContext, client_address, get_context
from sshgate.api.errors import install_error_handlers
from sshgate.authority import CertificateAuthority
from sshgate.config import Config
from sshgate.console import install_console
from sshgate.store import Store

__all__ = ["create_app"]


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
        accounts = Accounts(store, box, session_ttl=config.api.session_ttl)
    app = FastAPI(
        title="sshgate",
        version=__version__,
        openapi_url="/api/openapi.json",
        # The interactive docs would load scripts from a CDN; the schema is enough.
        docs_url=None,
        redoc_url=None,
    )
    app.state.sshgate = ApiContext(config=config, store=store, accounts=accounts, ca=ca)
    install_error_handlers(app)
    for module in (session, account, ssh, tokens, access, orgs, org_reminders):
        app.include_router(module.router)
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

    return app
