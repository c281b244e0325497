"""API tokens: create (the secret shown once), list, revoke (`Accounts`' rules)."""

from __future__ import annotations

from fastapi import Response

from sshgate import accounts as acc
from sshgate.console._web import ConsolePage, redirect
from sshgate.console.pages import Page, console_router
from sshgate.logs import log

__all__ = ["router"]

router = console_router()


async def tokens_page(page: ConsolePage, status: int = 200, **values: object) -> Response:
    tokens = await page.services.accounts.list_tokens(page.me().user)
    values.setdefault("created", None)
    values.setdefault("error", "")
    return await page.render("tokens.html", status, tokens=tokens, **values)


@router.get("/tokens")
async def tokens(page: Page) -> Response:
    return await tokens_page(page)


@router.post("/tokens")
async def create_token(page: Page) -> Response:
    form = await page.form()
    principal = page.me()
    try:
        created = await page.services.accounts.create_token(principal, form.get("name")[:128])
    except (acc.InvalidTokenName, acc.NotPermitted) as exc:
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
