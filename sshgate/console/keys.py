"""Security keys and passkeys in the Console: the "Security key or passkey" choice at sign-in
(after the password), and "Add security key or passkey" with the list of keys in My profile →
Authentication Settings. The rules are the accounts service's (`Accounts.keys`).

The browser part is static/keys.js (navigator.credentials, no inline script): it asks these
pages for options as JSON, then posts the key's answer in an ordinary form. Without
JavaScript the rest of the sign-in and of the profile works; the key buttons say they need it.
When `api.public_url` names an IP address the pages say why keys are unavailable instead.
"""

from __future__ import annotations

import json

from fastapi import Response
from fastapi.responses import JSONResponse

from sshgate import accounts as acc
from sshgate.console._web import ConsolePage, redirect
from sshgate.console.pages import Page, console_router
from sshgate.console.profile import NEXT_STEP, mfa_off_page, profile_page
from sshgate.console.signin import code_step, signed_in_page
from sshgate.logs import log

__all__ = ["KEYS_SECTION", "KEY_STEP", "router"]

router = console_router()
KEY_STEP = "parts/key_step.html"
KEYS_SECTION = "parts/security_keys.html"
MAX_FIELD = 256
MAX_CREDENTIAL = 16384


def _ceremony(page: ConsolePage, ceremony: acc.Ceremony) -> Response:
    body = {"challenge_id": ceremony.challenge_id, "options": json.loads(ceremony.options)}
    return page.finish(JSONResponse(body))


def _unavailable(page: ConsolePage, exc: acc.AccountsError, status: int) -> Response:
    return page.finish(JSONResponse({"error": str(exc)}, status_code=status))


@router.post("/sign-in/key/options")
async def sign_in_key_options(page: Page) -> Response:
    form = await page.form()
    try:
        ceremony = await page.services.accounts.key_sign_in_options(form.get("ticket")[:1024])
    except (acc.SignInExpired, acc.KeyNotAccepted, acc.KeysUnavailable) as exc:
        return _unavailable(page, exc, 400)
    return _ceremony(page, ceremony)


@router.post("/sign-in/key")
async def sign_in_key(page: Page) -> Response:
    form = await page.form()
    ticket = form.get("ticket")[:1024]
    try:
        result = await page.services.accounts.finish_key_sign_in(
            ticket,
            form.get("challenge_id")[:64],
            form.get("credential")[:MAX_CREDENTIAL],
            page.client,
        )
    except acc.SignInExpired as exc:
        return await page.render("sign_in.html", 401, error=str(exc), username="")
    except (acc.KeyNotAccepted, acc.SecondFactorLocked, acc.KeysUnavailable) as exc:
        log("login_refused", reason=type(exc).__name__, client=page.client, via="console")
        status = 429 if isinstance(exc, acc.SecondFactorLocked) else 401
        return await code_step(page, ticket, str(exc), status)
    return signed_in_page(page, result)


@router.post("/profile/keys/options")
async def add_key_options(page: Page) -> Response:
    await page.form()
    principal = page.me()
    try:
        ceremony = await page.services.accounts.keys.registration_options(
            principal.user, principal.jti
        )
    except acc.KeysUnavailable as exc:
        return _unavailable(page, exc, 409)
    return _ceremony(page, ceremony)


@router.post("/profile/keys")
async def add_key(page: Page) -> Response:
    form = await page.form()
    principal = page.me()
    try:
        added = await page.services.accounts.keys.register(
            principal.user,
            principal.jti,
            form.get("challenge_id")[:64],
            form.get("credential")[:MAX_CREDENTIAL],
            form.get("name")[:MAX_FIELD],
        )
    except (acc.KeyNotAccepted, acc.KeysUnavailable, ValueError) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="keys")
    log("security_key_added", user_id=principal.user.id, key_id=added.key.id, via="console")
    if added.recovery_codes:
        return await page.render(
            "recovery_codes.html", codes=added.recovery_codes, next_step=NEXT_STEP, new=False
        )
    return redirect(page, "/profile#security-keys")


@router.post("/profile/keys/{key_id}/remove")
async def remove_key(key_id: str, page: Page) -> Response:
    form = await page.form()
    user = page.me().user
    try:
        ended = await page.services.accounts.keys.remove(
            user,
            key_id[:64],
            form.get("password")[:MAX_FIELD],
            form.get("code")[:MAX_FIELD] or None,
            page.client,
        )
    except (acc.KeyNotFound, acc.WrongPassword, acc.InvalidCode, acc.SecondFactorLocked) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="keys")
    log("security_key_removed", user_id=user.id, key_id=key_id, via="console")
    if ended:
        return await mfa_off_page(page)
    return redirect(page, "/profile#security-keys")
