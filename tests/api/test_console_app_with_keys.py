"""An authenticator app beside security keys in the Console, in-process: a user whose MFA is
on through a passkey follows My profile → Authentication Settings → Set up application →
Verify & save (from a sign-in with the key), keeps their recovery codes, is listed with both
factors on the Security page, and removes the app again with MFA staying on."""

from __future__ import annotations

import html
import re

import pyotp

from sshgate.accounts.scope import ADDING_APP_NEEDS_MFA
from sshgate.policy.model import OrgRole
from tests.api.conftest import PASSWORD, PUBLIC_URL, Site
from tests.api.test_console import new_user_signed_in
from tests.api.test_console_keys import add_key, sign_in_with_key
from tests.support.softkey import SoftKey

SECRET = re.compile(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>')
BOTH = "Authenticator app, Security key or passkey"


async def test_a_passkey_user_sets_up_an_app_and_removes_it_with_mfa_staying_on(
    site: Site,
) -> None:
    alice = await new_user_signed_in(site, "alice")
    user = await site.store.get_user_by_name("alice")
    assert user is not None
    await site.store.create_org("acme")
    await site.store.set_member("acme", user.id, OrgRole.OWNER)
    key = SoftKey("localhost", PUBLIC_URL)
    assert "recovery-codes" in await add_key(alice, key, "Passkey")  # MFA on, codes once
    # this Console session was opened with the password alone: no app from it; the page
    # says why instead of offering Set up application, and the route refuses it too
    before = (await alice.get("/profile")).text
    assert 'id="app-needs-mfa-login"' in before and "Set up application" not in before
    refused = await alice.post("/profile/mfa/setup")
    assert refused.status_code == 400
    assert html.escape(ADDING_APP_NEEDS_MFA, quote=False) in refused.text

    await alice.post("/sign-out")
    assert await sign_in_with_key(alice, key) == 303
    profile = (await alice.get("/profile")).text
    assert "MFA on" in profile and "Set up application" in profile
    started = await alice.post("/profile/mfa/setup")
    assert started.status_code == 303
    shown = await alice.get("/profile")
    found = SECRET.search(shown.text)
    assert found is not None and "Verify &amp; save" in shown.text
    secret = found.group(1).replace(" ", "")
    # not a factor until verified
    security = (await alice.get("/orgs/acme/security")).text
    assert BOTH not in security and "Security key or passkey" in security

    saved = await alice.post("/profile/mfa/verify", {"code": pyotp.TOTP(secret).at(site.clock())})
    assert saved.status_code == 200, saved.text
    assert "Authenticator app added" in saved.text and 'id="recovery-codes-kept"' in saved.text
    assert 'id="recovery-codes"' not in saved.text  # the codes she has are not replaced
    assert "Refresh your SSH credentials: run sshgate login -f" in saved.text
    assert BOTH in (await alice.get("/orgs/acme/security")).text
    profile = (await alice.get("/profile")).text
    assert "Remove authenticator app" in profile and "Set up application" not in profile

    removed = await alice.post(
        "/profile/mfa/remove-app",
        {"password": PASSWORD, "code": pyotp.TOTP(secret).at(site.clock.next_step())},
    )
    assert removed.status_code == 200, removed.text
    assert "The authenticator app was removed; your security keys keep MFA on." in removed.text
    assert "MFA on" in removed.text and "Set up application" in removed.text
    assert BOTH not in (await alice.get("/orgs/acme/security")).text
