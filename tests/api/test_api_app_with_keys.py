"""An authenticator app beside security keys, over the API: a user whose MFA is on through a
key adds an app (from a login with MFA only) and keeps their recovery codes; an app being set
up is no second factor (not at sign-in, not for the last-key rule, not in the members'
factors) and expires; removing the app leaves MFA on while a key remains."""

from __future__ import annotations

import asyncio

import pyotp
import pytest

from sshgate.accounts.mfa import SETUP_TTL
from sshgate.accounts.scope import ADDING_APP_NEEDS_MFA
from sshgate.policy.model import OrgRole
from tests.api.conftest import PASSWORD, Site, auth
from tests.api.test_api_security_keys import ORIGIN, RP_ID, add_key, key_options, sign_in
from tests.support.softkey import SoftKey


@pytest.fixture
async def alice(site: Site) -> str:
    """alice, owner of acme, without MFA: a password-only login session."""
    user = await site.add_user("alice")
    await site.store.create_org("acme")
    await site.store.set_member("acme", user.id, OrgRole.OWNER)
    return await site.token("alice")


async def key_user(site: Site, alice: str) -> tuple[SoftKey, list[str], str]:
    """alice with MFA on through one key: the key, her recovery codes, a login with the key."""
    key = SoftKey(RP_ID, ORIGIN)
    added = await add_key(site, alice, key)
    assert added.status_code == 201, added.text
    signed_in = await sign_in(site, key, await key_options(site))
    assert signed_in.status_code == 200 and signed_in.json()["amr"] == ["pwd", "hwk", "mfa"]
    return key, list(added.json()["recovery_codes"]), str(signed_in.json()["token"])


async def setup(site: Site, bearer: str) -> str:
    started = await site.client.post("/api/account/mfa/setup", headers=auth(bearer))
    assert started.status_code == 200, started.text
    return str(started.json()["secret"])


async def verify(site: Site, bearer: str, code: str) -> dict[str, object]:
    verified = await site.client.post(
        "/api/account/mfa/verify", json={"code": code}, headers=auth(bearer)
    )
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


async def factors(site: Site, bearer: str) -> list[str]:
    listed = await site.client.get("/api/orgs/acme/security", headers=auth(bearer))
    assert listed.status_code == 200, listed.text
    [alice] = [i for i in listed.json()["items"] if i["username"] == "alice"]
    return list(alice["factors"])


async def test_a_key_user_adds_an_app_and_keeps_their_recovery_codes(
    site: Site, alice: str
) -> None:
    _, codes, with_key = await key_user(site, alice)
    secret = await setup(site, with_key)
    verified = await verify(site, with_key, pyotp.TOTP(secret).at(site.clock()))
    assert verified == {"mfa": True, "recovery_codes": []}
    # the app signs in now (amr otp), and the recovery codes from the key still work
    code = pyotp.TOTP(secret).at(site.clock.next_step())
    with_app = await site.login("alice", totp=code)
    assert with_app.status_code == 200 and with_app.json()["amr"] == ["pwd", "otp", "mfa"]
    with_recovery = await site.login("alice", totp=codes[0])
    assert with_recovery.status_code == 200, with_recovery.text
    assert await factors(site, with_key) == ["totp", "webauthn"]


async def test_adding_an_app_while_mfa_is_on_needs_a_login_with_mfa(site: Site, alice: str) -> None:
    _, _, with_key = await key_user(site, alice)
    # alice's first session was opened with the password alone, before the key turned MFA on
    refused = await site.client.post("/api/account/mfa/setup", headers=auth(alice))
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == ADDING_APP_NEEDS_MFA
    secret = await setup(site, with_key)  # started from the login with the key...
    late = await site.client.post(  # ...but not verified from the password-only one
        "/api/account/mfa/verify",
        json={"code": pyotp.TOTP(secret).at(site.clock())},
        headers=auth(alice),
    )
    assert late.status_code == 403 and late.json()["message"] == ADDING_APP_NEEDS_MFA
    assert await factors(site, with_key) == ["webauthn"]


async def test_an_app_already_set_up_is_not_replaced_by_a_new_setup(site: Site, alice: str) -> None:
    _, _, with_key = await key_user(site, alice)
    await verify(site, with_key, pyotp.TOTP(await setup(site, with_key)).at(site.clock()))
    again = await site.client.post("/api/account/mfa/setup", headers=auth(with_key))
    assert again.status_code == 409 and again.json()["error"] == "mfa_enabled"


async def test_a_setup_in_progress_does_not_count_for_removing_the_last_key(
    site: Site, alice: str
) -> None:
    await setup(site, alice)  # never verified
    keys = [await add_key(site, alice, SoftKey(RP_ID, ORIGIN), name) for name in ("a", "b")]
    assert [k.status_code for k in keys] == [201, 201]
    # Both removals at once, with the password alone: each sees another key, so the store's
    # write transaction decides which one is the last; the setup is no factor there.
    both = await asyncio.gather(
        *(
            site.client.post(
                f"/api/account/security-keys/{k.json()['id']}/remove",
                json={"password": PASSWORD},
                headers=auth(alice),
            )
            for k in keys
        )
    )
    assert sorted(r.status_code for r in both) == [200, 400], [r.text for r in both]
    listed = (await site.client.get("/api/account/security-keys", headers=auth(alice))).json()
    assert len(listed["items"]) == 1
    account = (await site.client.get("/api/account", headers=auth(alice))).json()
    assert account["mfa"] is True


async def test_a_setup_in_progress_does_not_sign_in_nor_count_as_a_factor(
    site: Site, alice: str
) -> None:
    secret = await setup(site, alice)
    assert (await add_key(site, alice, SoftKey(RP_ID, ORIGIN))).status_code == 201
    code = pyotp.TOTP(secret).at(site.clock.next_step())
    refused = await site.login("alice", totp=code)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_code"
    assert await factors(site, alice) == ["webauthn"]


async def test_a_setup_expires(site: Site, alice: str) -> None:
    secret = await setup(site, alice)
    site.clock.now += SETUP_TTL + 1
    expired = await site.client.post(
        "/api/account/mfa/verify",
        json={"code": pyotp.TOTP(secret).at(site.clock())},
        headers=auth(alice),
    )
    assert expired.status_code == 409 and expired.json()["error"] == "no_pending_setup"
    account = (await site.client.get("/api/account", headers=auth(alice))).json()
    assert account["mfa"] is False


async def test_removing_the_app_leaves_mfa_on_while_a_key_remains(site: Site, alice: str) -> None:
    _, codes, with_key = await key_user(site, alice)
    secret = await setup(site, with_key)
    await verify(site, with_key, pyotp.TOTP(secret).at(site.clock()))
    wrong = await site.client.post(
        "/api/account/mfa/remove-app",
        json={"password": "not the password", "code": codes[0]},
        headers=auth(with_key),
    )
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    removed = await site.client.post(
        "/api/account/mfa/remove-app",
        json={"password": PASSWORD, "code": pyotp.TOTP(secret).at(site.clock.next_step())},
        headers=auth(with_key),
    )
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"mfa": True, "sessions_ended": 0}
    assert await factors(site, with_key) == ["webauthn"]
    # the key is the last factor again: it goes only with a code
    [key] = (await site.client.get("/api/account/security-keys", headers=auth(with_key))).json()[
        "items"
    ]
    path = f"/api/account/security-keys/{key['id']}/remove"
    last = await site.client.post(path, json={"password": PASSWORD}, headers=auth(with_key))
    assert last.status_code == 400 and last.json()["error"] == "invalid_code"


async def test_removing_the_app_of_an_app_only_user_turns_mfa_off(site: Site, alice: str) -> None:
    secret, _ = await site.enable_mfa(alice)
    removed = await site.client.post(
        "/api/account/mfa/remove-app",
        json={"password": PASSWORD, "code": pyotp.TOTP(secret).at(site.clock.next_step())},
        headers=auth(alice),
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["mfa"] is False and removed.json()["sessions_ended"] >= 1
    account = await site.client.get("/api/account", headers=auth(await site.token("alice")))
    assert account.json()["mfa"] is False


async def test_an_app_user_adds_a_key_and_both_factors_are_listed(site: Site, alice: str) -> None:
    secret, _ = await site.enable_mfa(alice)
    session = await site.token("alice", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    assert (await add_key(site, session, SoftKey(RP_ID, ORIGIN))).status_code == 201
    assert await factors(site, session) == ["totp", "webauthn"]
