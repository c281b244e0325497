"""API tokens for bots: POST /api/tokens, GET /api/tokens, DELETE /api/tokens/{id}."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sshgate.api.context import Context, SessionPrincipal
from sshgate.api.schemas import (
    TokenCreatedResponse,
    TokenCreateRequest,
    TokenItem,
    TokenListResponse,
    iso,
)
from sshgate.logs import log

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.post("", status_code=201, response_model=TokenCreatedResponse)
async def create_token(
    body: TokenCreateRequest, principal: SessionPrincipal, context: Context
) -> TokenCreatedResponse:
    """A token with this login's `amr`: one created before MFA was enabled never gains
    `mfa`; re-create it after logging in with MFA. The secret is shown once. Scope
    `certificate` (default) or `account`; `expires_in` seconds, or until revoked. Token
    management needs a login session, not a token."""
    created = await context.accounts.create_token(principal, body.name, body.scope, body.expires_in)
    record = created.record
    log("token_created", user_id=principal.user.id, token_id=record.id, scope=record.scope)
    return TokenCreatedResponse(
        id=record.id,
        token=created.token,
        name=record.name,
        amr=list(record.amr),
        scope=record.scope,
        created_at=iso(record.created_at) or "",
        expires_at=iso(record.expires_at),
    )


@router.get("", response_model=TokenListResponse)
async def list_tokens(principal: SessionPrincipal, context: Context) -> TokenListResponse:
    """The caller's tokens that are not revoked (their secrets are not kept)."""
    tokens = await context.accounts.list_tokens(principal.user)
    return TokenListResponse(
        items=[
            TokenItem(
                id=t.id,
                name=t.name,
                created_at=iso(t.created_at) or "",
                amr=list(t.amr),
                scope=t.scope,
                expires_at=iso(t.expires_at),
                last_used_at=iso(t.last_used_at),
            )
            for t in tokens
        ]
    )


@router.delete("/{token_id}", status_code=204, response_class=Response)
async def revoke_token(token_id: str, principal: SessionPrincipal, context: Context) -> Response:
    await context.accounts.revoke_token(principal.user, token_id)
    log("token_revoked", user_id=principal.user.id, token_id=token_id)
    return Response(status_code=204)
