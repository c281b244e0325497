"""The demo's Console: alice enrolls a real authenticator secret (so that a person can sign
in to the Console as her, with any TOTP app, and `--check` can too), and the check that
signs in to the Console over HTTP and reads the Security page."""

from __future__ import annotations

import re
import time

import httpx
import pyotp

from sshgate.accounts import Accounts, SecretBox
from sshgate.config import Config
from sshgate.policy import User
from sshgate.store import Store

__all__ = ["console_sees_mfa_status", "enroll_authenticator"]

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TICKET = re.compile(r'name="ticket" value="([^"]+)"')
ROW = re.compile(r'name="user" value="([a-z][a-z0-9._-]+)" data-mfa="(on|off)"')


async def enroll_authenticator(config: Config, store: Store, user: User) -> str:
    """Set up application and Verify & save for `user`, as the Console does; returns the
    TOTP secret (base32)."""
    accounts = Accounts(store, SecretBox.from_file(config.secrets.key_file))
    enrollment = await accounts.mfa.begin_setup(user)
    await accounts.mfa.verify_setup(user, pyotp.TOTP(enrollment.secret).now())
    return enrollment.secret


def console_sees_mfa_status(
    url: str, username: str, password: str, secret: str, org: str, expected: dict[str, bool]
) -> bool:
    """Sign in to the Console as `username` (password, then a code from the next time step:
    the current one was spent by the enrollment), open `org`'s Security page, and compare
    each member's MFA status with `expected`."""
    with httpx.Client(base_url=url, timeout=30) as client:
        form = CSRF.search(client.get("/sign-in").text)
        if form is None:
            return False
        step = client.post(
            "/sign-in", data={"csrf": form.group(1), "username": username, "password": password}
        )
        ticket, csrf = TICKET.search(step.text), CSRF.search(step.text)
        if ticket is None or csrf is None:
            return False
        code = pyotp.TOTP(secret).at(time.time() + 30)
        signed = client.post(
            "/sign-in/code",
            data={"csrf": csrf.group(1), "ticket": ticket.group(1), "code": code},
        )
        if signed.status_code != 303:
            return False
        page = client.get(f"/orgs/{org}/security")
        seen = {name: state == "on" for name, state in ROW.findall(page.text)}
        return page.status_code == 200 and seen == expected
