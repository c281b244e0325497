"""MFA through the API: setup and verify with a code computed from the returned secret,
logging in with a code, recovery codes, disabling, and the password change."""

from __future__ import annotations

import pyotp

from tests.api.conftest import PASSWORD, Site, auth, wrong_code


async def test_setup_and_verify_then_login_needs_a_code(site: Site) -> None:
    await site.add_user("bob")
    token = await site.token("bob")
    setup = await site.client.post("/api/account/mfa/setup", headers=auth(token))
    assert setup.status_code == 200
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/sshgate:bob?")
    assert body["qr_svg"].startswith("<svg")
    secret = body["secret"]
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == secret

    wrong = await site.client.post(
        "/api/account/mfa/verify",
        json={"code": wrong_code(secret, site.clock())},
        headers=auth(token),
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_code"

    verify = await site.client.post(
        "/api/account/mfa/verify",
        json={"code": pyotp.TOTP(secret).at(site.clock())},
        headers=auth(token),
    )
    assert verify.status_code == 200
    assert verify.json()["mfa"] is True and len(verify.json()["recovery_codes"]) == 10

    account = (await site.client.get("/api/account", headers=auth(token))).json()
    assert account["mfa"] is True and account["mfa_since"].endswith("Z")
    assert account["amr"] == ["pwd"]  # this session's amr was fixed at its login

    without = await site.login("bob")
    assert without.status_code == 401
    assert without.json()["error"] == "mfa_code_required"
    replayed = await site.login("bob", totp=pyotp.TOTP(secret).at(site.clock()))
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_code"
    with_code = await site.login("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    assert with_code.status_code == 200
    assert with_code.json()["amr"] == ["pwd", "otp", "mfa"]


async def test_setup_is_refused_while_mfa_is_on(site: Site) -> None:
    await site.add_user("bob")
    token = await site.token("bob")
    await site.enable_mfa(token)
    response = await site.client.post("/api/account/mfa/setup", headers=auth(token))
    assert response.status_code == 409 and response.json()["error"] == "mfa_enabled"


async def test_recovery_code_logs_in_once(site: Site) -> None:
    await site.add_user("bob")
    _, codes = await site.enable_mfa(await site.token("bob"))
    first = await site.login("bob", totp=codes[0])
    assert first.status_code == 200 and first.json()["amr"] == ["pwd", "otp", "mfa"]
    again = await site.login("bob", totp=codes[0])
    assert again.status_code == 401 and again.json()["error"] == "invalid_code"


async def test_wrong_codes_lock_with_429(site: Site) -> None:
    await site.add_user("bob")
    secret, _ = await site.enable_mfa(await site.token("bob"))
    wrong = wrong_code(secret, site.clock())
    for _ in range(4):
        assert (await site.login("bob", totp=wrong)).status_code == 401
    locked = await site.login("bob", totp=wrong)
    assert locked.status_code == 429
    assert locked.json()["error"] == "second_factor_locked"
    assert locked.headers["retry-after"] == "900"


async def test_new_recovery_codes_need_a_current_code(site: Site) -> None:
    await site.add_user("bob")
    token = await site.token("bob")
    secret, old = await site.enable_mfa(token)
    response = await site.client.post(
        "/api/account/mfa/recovery-codes",
        json={"code": pyotp.TOTP(secret).at(site.clock.next_step())},
        headers=auth(token),
    )
    assert response.status_code == 200
    new = response.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)


async def test_disable_needs_password_and_code_and_ends_sessions(site: Site) -> None:
    await site.add_user("bob")
    token = await site.token("bob")
    secret, _ = await site.enable_mfa(token)
    token = await site.token("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    site.clock.next_step()
    wrong_password = await site.client.post(
        "/api/account/mfa/disable",
        json={"password": "wrong password", "code": pyotp.TOTP(secret).at(site.clock())},
        headers=auth(token),
    )
    assert wrong_password.status_code == 403
    assert wrong_password.json()["error"] == "wrong_password"
    response = await site.client.post(
        "/api/account/mfa/disable",
        json={"password": PASSWORD, "code": pyotp.TOTP(secret).at(site.clock())},
        headers=auth(token),
    )
    assert response.status_code == 200
    assert response.json() == {"mfa": False, "sessions_ended": 2}
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 401
    assert (await site.login("bob")).json()["amr"] == ["pwd"]


async def test_password_change_ends_sessions(site: Site) -> None:
    await site.add_user("alice")
    token = await site.token("alice")
    weak = await site.client.post(
        "/api/account/password",
        json={"old_password": PASSWORD, "new_password": "short"},
        headers=auth(token),
    )
    assert weak.status_code == 400 and weak.json()["error"] == "weak_password"
    response = await site.client.post(
        "/api/account/password",
        json={"old_password": PASSWORD, "new_password": "another long password"},
        headers=auth(token),
    )
    assert response.status_code == 200
    assert response.json() == {"sessions_ended": 1, "certificates_revoked": 0, "tokens_revoked": 0}
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 401
    assert (await site.login("alice", password="another long password")).status_code == 200
