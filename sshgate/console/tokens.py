"""API tokens: create (the secret shown once), list, revoke (`Accounts`' rules)."""

from __future__ import annotations

from fastapi import Response

from sshgate import accounts as acc
from sshgate.console._web import ConsolePage, redirect
from sshgate.console.pages import Page, console_router
from sshgate.logs import log

__all__ = ["router"]

router = console_router()
# The expiry choices of the create form, in seconds ("" : until revoked).
EXPIRIES = (("", "Never (until revoked)"), ("604800", "7 days"), ("2592000", "30 days"),
            ("7776000", "90 days"), ("31536000", "1 year"))  # fmt: skip


async def tokens_page(page: ConsolePage, status: int = 200, **values: object) -> Response:
    tokens = await page.services.accounts.list_tokens(page.me().user)
    values.setdefault("created", None)
    values.setdefault("error", "")
    return await page.render(
        "tokens.html", status, tokens=tokens, scopes=acc.SCOPES, expiries=EXPIRIES, **values
    )


@router.get("/tokens")
async def tokens(page: Page) -> Response:
    return await tokens_page(page)


@router.post("/tokens")
async def create_token(page: Page) -> Response:
    form = await page.form()
    principal = page.me()
    expiry = form.get("expires")
    expires_in = int(expiry) if expiry in {seconds for seconds, _ in EXPIRIES if seconds} else None
    try:
        created = await page.services.accounts.create_token(
            principal, form.get("name")[:128], form.get("scope", "certificate")[:16], expires_in
        )
    except (acc.InvalidTokenName, acc.NotPermitted, acc.InvalidTokenExpiry) as exc:
        return await tokens_page(page, 400, error=str(exc))
    log("token_created", user_id=principal.user.id, token_id=created.record.id, via="console")
    return await tokens_page(page, 201, created=created)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: str, page: Page) -> Response:
    await page.form()
    user = page.me().user
    await page.services.accounts.revoke_token(user, token_id[:64])
    log("token_revoked", user_id=user.id, token_id=token_id[:64], via="console")
    return redirect(page, "/tokens")
