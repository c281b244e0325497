"""Security keys and passkeys over the API (WebAuthn; the rules are `Accounts.keys`).

The caller's own keys, with a login session (not an API token), like the rest of MFA:
    POST /api/account/security-keys/options            -> {challenge_id, options}
    POST /api/account/security-keys     {challenge_id, credential, name?}
                                        -> 201 {id, name, created_at, last_used_at,
                                                recovery_codes}
    GET  /api/account/security-keys     -> {items: [{id, name, created_at, last_used_at}]}
    POST /api/account/security-keys/{id}/remove  {password, code?} -> {sessions_ended}
Signing in with a key, after the password:
    POST /api/auth/key/options  {username, password}  -> {ticket, challenge_id, options}
    POST /api/auth/key  {ticket, challenge_id, credential}
                        -> the login's answer, with amr ["pwd", "hwk", "mfa"]
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from sshgate.accounts import AccountsError, KeyNotAccepted
from sshgate.api.context import Context, SessionPrincipal, client_address
from sshgate.api.errors import BEARER, ApiError
from sshgate.api.schemas import (
    AddedKeyResponse,
    AddKeyRequest,
    KeyCeremony,
    KeySignInFinish,
    KeySignInOptions,
    KeySignInRequest,
    LoginResponse,
    RemoveKeyRequest,
    RemoveKeyResponse,
    SecurityKeyItem,
    SecurityKeysResponse,
    iso,
)
from sshgate.api.session import login_answer
from sshgate.logs import log

__all__ = ["router"]

router = APIRouter(tags=["security keys"])
KEYS = "/api/account/security-keys"


@router.post(f"{KEYS}/options", response_model=KeyCeremony)
async def add_key_options(principal: SessionPrincipal, context: Context) -> KeyCeremony:
    """The first step of "Add security key or passkey": options for
    navigator.credentials.create(), bound to this login session."""
    ceremony = await context.accounts.keys.registration_options(principal.user, principal.jti)
    return KeyCeremony(challenge_id=ceremony.challenge_id, options=json.loads(ceremony.options))


@router.post(KEYS, response_model=AddedKeyResponse, status_code=201)
async def add_key(
    body: AddKeyRequest, principal: SessionPrincipal, context: Context
) -> AddedKeyResponse:
    """Keep the key the browser created. The first key of an account without MFA turns MFA
    on and returns the recovery codes, once."""
    try:
        added = await context.accounts.keys.register(
            principal.user,
            principal.jti,
            body.challenge_id,
            json.dumps(body.credential),
            body.name,
        )
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    key = added.key
    log("security_key_added", user_id=principal.user.id, key_id=key.id)
    return AddedKeyResponse(
        id=key.id,
        name=key.name,
        created_at=iso(key.created_at) or "",
        last_used_at=iso(key.last_used_at),
        recovery_codes=added.recovery_codes,
    )


@router.get(KEYS, response_model=SecurityKeysResponse)
async def list_keys(principal: SessionPrincipal, context: Context) -> SecurityKeysResponse:
    keys = await context.accounts.keys.list(principal.user)
    return SecurityKeysResponse(
        items=[
            SecurityKeyItem(
                id=k.id,
                name=k.name,
                created_at=iso(k.created_at) or "",
                last_used_at=iso(k.last_used_at),
            )
            for k in keys
        ]
    )


@router.post(KEYS + "/{key_id}/remove", response_model=RemoveKeyResponse)
async def remove_key(
    key_id: str,
    body: RemoveKeyRequest,
    principal: SessionPrincipal,
    request: Request,
    context: Context,
) -> RemoveKeyResponse:
    """Needs the password; the last key also a code (authenticator or recovery). Removing the
    last second factor turns MFA off and ends every login session of the user."""
    ended = await context.accounts.keys.remove(
        principal.user, key_id[:64], body.password, body.code, client_address(request)
    )
    log("security_key_removed", user_id=principal.user.id, key_id=key_id, sessions_ended=ended)
    return RemoveKeyResponse(sessions_ended=ended)


@router.post("/api/auth/key/options", response_model=KeySignInOptions)
async def key_sign_in_options(
    body: KeySignInRequest, request: Request, context: Context
) -> KeySignInOptions:
    """The password (throttled like any login), then options for navigator.credentials.get()."""
    ticket, ceremony = await context.accounts.begin_key_sign_in(
        body.username, body.password, client_address(request)
    )
    return KeySignInOptions(
        ticket=ticket, challenge_id=ceremony.challenge_id, options=json.loads(ceremony.options)
    )


@router.post("/api/auth/key", response_model=LoginResponse)
async def key_sign_in(body: KeySignInFinish, request: Request, context: Context) -> LoginResponse:
    """The key's answer opens a login session whose amr is ["pwd", "hwk", "mfa"]."""
    client = client_address(request)
    try:
        result = await context.accounts.finish_key_sign_in(
            body.ticket, body.challenge_id, json.dumps(body.credential), client
        )
    except KeyNotAccepted as exc:
        log("login_refused", reason=type(exc).__name__, client=client)
        raise ApiError(401, "key_not_accepted", str(exc), BEARER) from None
    except AccountsError as exc:
        log("login_refused", reason=type(exc).__name__, client=client)
        raise
    return login_answer(result, client)
