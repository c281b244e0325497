"""User menu → My profile → Authentication Settings: Set up application, Verify & save,
the recovery codes (shown once, with Download), new recovery codes, remove the
authenticator app (when security keys remain), disable MFA, change password. The rules are
the accounts service's (`Accounts`, `Accounts.mfa`): a user whose MFA is on through security
keys sets up an app here too, from a sign-in with MFA, and keeps their recovery codes."""

from __future__ import annotations

import re

from fastapi import Response
from fastapi.responses import PlainTextResponse

from sshgate import accounts as acc
from sshgate.accounts import SETUP_TTL, PasswordPolicyError, lacks_mfa_login
from sshgate.console._web import ConsolePage, redirect
from sshgate.console.pages import Page, console_router
from sshgate.logs import log

__all__ = ["NEXT_STEP", "mfa_off_page", "profile_page", "router"]

router = console_router()
MAX_FIELD = 256
# The contract's words, after Verify & save and after new recovery codes.
NEXT_STEP = "Refresh your SSH credentials: run sshgate login -f"
RECOVERY_CODE = re.compile(r"[a-z0-9]{4}(-[a-z0-9]{4}){2}")
MAX_CODES = 10


def grouped(secret: str) -> str:
    """The secret in groups of four, as people type it into an authenticator app."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def profile_page(page: ConsolePage, status: int = 200, **values: object) -> Response:
    principal = page.me()
    user = principal.user
    mfa = page.services.accounts.mfa
    has_app = await mfa.has_app(user)
    enrollment = None if has_app else await mfa.pending(user)
    values.setdefault("error", "")
    values.setdefault("error_in", "")
    values.setdefault("notice", "")
    return await page.render(
        "profile.html",
        status,
        enrollment=enrollment,
        has_app=has_app,
        # MFA on through keys, and this sign-in did not use them: Set up application would
        # be refused, so the page says why instead of offering it.
        app_needs_mfa_login=lacks_mfa_login(user.mfa_enabled, principal.has_mfa),
        app_needs_mfa_text=acc.ADDING_APP_NEEDS_MFA,
        setup_minutes=int(SETUP_TTL // 60),
        secret_groups=grouped(enrollment.secret) if enrollment else "",
        sections=page.web.profile_sections,
        security_keys=await page.services.accounts.keys.list(user),
        **values,
    )


@router.get("/profile")
async def profile(page: Page) -> Response:
    return await profile_page(page)


@router.post("/profile/mfa/setup")
async def mfa_setup(page: Page) -> Response:
    await page.form()
    principal = page.me()
    try:
        await page.services.accounts.mfa.begin_setup(principal.user, principal.has_mfa)
    except (acc.MFAAlreadyEnabled, acc.NotPermitted) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="setup")
    return redirect(page, "/profile#set-up-application")


@router.post("/profile/mfa/verify")
async def mfa_verify(page: Page) -> Response:
    form = await page.form()
    principal = page.me()
    user = principal.user
    try:
        codes = await page.services.accounts.mfa.verify_setup(
            user, form.get("code")[:MAX_FIELD], principal.has_mfa
        )
    except (acc.InvalidCode, acc.NoPendingSetup, acc.MFAAlreadyEnabled, acc.NotPermitted) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="setup")
    log("mfa_enabled" if not user.mfa_enabled else "mfa_app_added", user_id=user.id, via="console")
    return await page.render(
        "recovery_codes.html", codes=codes, next_step=NEXT_STEP, new=False, added=user.mfa_enabled
    )


@router.post("/profile/recovery-codes")
async def recovery_codes(page: Page) -> Response:
    form = await page.form()
    user = page.me().user
    try:
        codes = await page.services.accounts.mfa.new_recovery_codes(
            user, form.get("code")[:MAX_FIELD]
        )
    except (acc.InvalidCode, acc.MFANotEnabled) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="recovery")
    log("recovery_codes_replaced", user_id=user.id, via="console")
    return await page.render("recovery_codes.html", codes=codes, next_step=NEXT_STEP, new=True)


@router.post("/profile/recovery-codes/download")
async def download_recovery_codes(page: Page) -> Response:
    """The codes the page just showed, sent back by the browser as a file: the server keeps
    only their hashes. Only well-formed codes are echoed."""
    form = await page.form()
    page.me()
    codes = [c for c in form.all("code")[:MAX_CODES] if RECOVERY_CODE.fullmatch(c)]
    text = "sshgate recovery codes (each works once)\n\n" + "".join(f"{c}\n" for c in codes)
    response = PlainTextResponse(
        text, headers={"Content-Disposition": 'attachment; filename="sshgate-recovery-codes.txt"'}
    )
    return page.finish(response)


async def mfa_off_page(page: ConsolePage) -> Response:
    """MFA went off (disabled, or its last factor removed): every session ended, this one
    too, so the next page is Sign in."""
    page.signed_out()
    return await page.render(
        "sign_in.html", notice="MFA is off and your sessions ended. Sign in again.", username=""
    )


async def password_and_code(page: ConsolePage) -> tuple[str, str]:
    """The password and the current code a form confirms an MFA change with."""
    form = await page.form()
    return form.get("password")[:MAX_FIELD], form.get("code")[:MAX_FIELD]


@router.post("/profile/mfa/disable")
async def mfa_disable(page: Page) -> Response:
    password, code = await password_and_code(page)
    user = page.me().user
    try:
        ended = await page.services.accounts.mfa.disable(user, password, code, page.client)
    except (acc.InvalidCode, acc.WrongPassword, acc.MFANotEnabled) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="disable")
    log("mfa_disabled", user_id=user.id, sessions_ended=ended, via="console")
    return await mfa_off_page(page)


@router.post("/profile/mfa/remove-app")
async def mfa_remove_app(page: Page) -> Response:
    password, code = await password_and_code(page)
    user = page.me().user
    try:
        removed = await page.services.accounts.mfa.remove_app(user, password, code, page.client)
    except (acc.InvalidCode, acc.WrongPassword, acc.NoAuthenticatorApp) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="remove-app")
    log("mfa_app_removed", user_id=user.id, sessions_ended=removed.sessions_ended, via="console")
    if removed.mfa_off:
        return await mfa_off_page(page)
    return await profile_page(
        page, notice="The authenticator app was removed; your security keys keep MFA on."
    )


@router.post("/profile/password")
async def change_password(page: Page) -> Response:
    form = await page.form()
    user = page.me().user
    new = form.get("new_password")[:MAX_FIELD]
    if new != form.get("confirm_password")[:MAX_FIELD]:
        return await profile_page(
            page, 400, error="the two new passwords differ", error_in="password"
        )
    try:
        changed = await page.services.accounts.change_password(
            user, form.get("old_password")[:MAX_FIELD], new, page.client
        )
    except (acc.WrongPassword, PasswordPolicyError) as exc:
        return await profile_page(page, 400, error=str(exc), error_in="password")
    log("password_changed", user_id=user.id, sessions_ended=changed.sessions_ended, via="console")
    page.signed_out()
    return await page.render(
        "sign_in.html",
        notice="Your password was changed and your sessions ended. Sign in again.",
        username="",
    )
