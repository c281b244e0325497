"""API token scopes and endings (issue 13 item 5), and certificates that never outlive the
login session or token that got them (item 7).

A `certificate` token (the default) issues certificates and reads whoami, nothing more; an
`account` token may do what its user may, except what needs a login session (MFA, password,
tokens); an expired token is refused; a password change, a password reset, a user disable
and an MFA reset end every token of the user."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pyotp
import pytest

from sshgate.accounts import hash_password
from sshgate.ca.certificate import parse_certificate_line
from sshgate.policy import OrgRole
from sshgate.services import Operator
from tests.api.conftest import PASSWORD, Site, auth, user_public_key


async def new_token(site: Site, session: str, **fields: object) -> str:
    created = await site.client.post(
        "/api/tokens", json={"name": "ci", **fields}, headers=auth(session)
    )
    assert created.status_code == 201, created.text
    return str(created.json()["token"])


async def owner_of_acme(site: Site) -> str:
    olga = await site.add_user("olga")
    await site.store.create_org("acme", frozenset({"advanced-user-management"}))
    await site.store.set_member("acme", olga.id, OrgRole.OWNER)
    return await site.token("olga")


async def test_a_token_is_certificate_scope_by_default(site: Site) -> None:
    session = await owner_of_acme(site)
    created = await site.client.post("/api/tokens", json={"name": "ci"}, headers=auth(session))
    assert created.json()["scope"] == "certificate" and created.json()["expires_at"] is None
    (item,) = (await site.client.get("/api/tokens", headers=auth(session))).json()["items"]
    assert item["scope"] == "certificate"


async def test_a_certificate_token_issues_certificates_and_reads_whoami_only(site: Site) -> None:
    session = await owner_of_acme(site)
    token = auth(await new_token(site, session))
    key = {"key": user_public_key()}
    assert (
        await site.client.post("/api/ssh/certificate", json=key, headers=token)
    ).status_code == 200
    assert (await site.client.get("/api/account", headers=token)).status_code == 200
    assert (await site.client.get("/api/me/access", headers=token)).status_code == 200
    members = await site.client.get("/api/orgs/acme/security", headers=token)
    assert members.status_code == 403 and "scope certificate" in members.json()["message"]
    switch = await site.client.put(
        "/api/orgs/acme/mfa-required", json={"required": False}, headers=token
    )
    assert switch.status_code == 403
    remind = await site.client.post("/api/orgs/acme/reminders", json={"all": True}, headers=token)
    assert remind.status_code == 403


async def test_an_account_token_reads_members(site: Site) -> None:
    session = await owner_of_acme(site)
    token = auth(await new_token(site, session, scope="account"))
    assert (await site.client.get("/api/orgs/acme/security", headers=token)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/account/mfa/setup", None),
        ("POST", "/api/account/mfa/verify", {"code": "123456"}),
        ("POST", "/api/account/mfa/disable", {"password": PASSWORD, "code": "123456"}),
        ("POST", "/api/account/mfa/recovery-codes", {"code": "123456"}),
        ("POST", "/api/account/password", {"old_password": PASSWORD, "new_password": "x" * 20}),
        ("POST", "/api/tokens", {"name": "more"}),
        ("GET", "/api/tokens", None),
        ("DELETE", "/api/tokens/anything", None),
    ],
    ids=[
        "mfa-setup",
        "mfa-verify",
        "mfa-disable",
        "recovery-codes",
        "password",
        "token-create",
        "token-list",
        "token-revoke",
    ],
)
async def test_even_an_account_token_cannot_do_what_needs_a_login_session(
    site: Site, method: str, path: str, body: dict[str, object] | None
) -> None:
    await site.add_user("alice")
    token = await new_token(site, await site.token("alice"), scope="account")
    refused = await site.client.request(method, path, json=body, headers=auth(token))
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"].startswith("this needs a login session")
    # nothing was enrolled: the account still has no pending or enabled second factor
    state = await site.store.get_mfa_state((await site.store.get_user_by_name("alice")).id)  # type: ignore[union-attr]
    assert state is not None and state.secret_enc is None and not state.enabled


async def test_an_account_token_needs_a_login_with_mfa_when_the_user_has_mfa(site: Site) -> None:
    await site.add_user("bob")
    session = await site.token("bob")
    secret, _ = await site.enable_mfa(session)
    # the session from before MFA was enabled lost its standing (MFA change); log in with MFA
    mfa_session = await site.token("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    assert await new_token(site, mfa_session, scope="account")
    # a login without mfa (its amr from before MFA) may not make one
    principal = await site.accounts.session_from_token(mfa_session)
    weak = await site.accounts.open_session(principal.user, ("pwd",), site.clock(), "")
    refused = await site.client.post(
        "/api/tokens", json={"name": "ci", "scope": "account"}, headers=auth(weak.token)
    )
    assert refused.status_code == 403 and "needs a login with MFA" in refused.json()["message"]
    assert await new_token(site, weak.token)  # certificate scope is fine


async def test_an_expired_token_is_refused(site: Site) -> None:
    await site.add_user("alice")
    token = await new_token(site, await site.token("alice"), expires_in=3600)
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 200
    site.clock.now += 3600
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 401


async def test_bad_token_lifetimes_are_400(site: Site) -> None:
    await site.add_user("alice")
    session = await site.token("alice")
    for expires_in in (0, -5, 11 * 366 * 86400):
        response = await site.client.post(
            "/api/tokens", json={"name": "ci", "expires_in": expires_in}, headers=auth(session)
        )
        assert response.status_code == 400, expires_in


async def test_a_certificate_does_not_outlive_the_token_that_got_it(site: Site) -> None:
    await site.add_user("alice")
    site.clock.now = time.time()  # certificates use real time
    token = await new_token(site, await site.token("alice"), expires_in=600)
    issued = await site.client.post(
        "/api/ssh/certificate", json={"key": user_public_key(), "ttl": 3600}, headers=auth(token)
    )
    cert = parse_certificate_line(issued.json()["certificate"])
    assert cert.valid_before <= site.clock.now + 600


async def test_a_certificate_does_not_outlive_the_login_session_that_got_it(site: Site) -> None:
    alice = await site.add_user("alice")
    site.clock.now = time.time()
    session = await site.accounts.open_session(alice, ("pwd",), site.clock(), "", ttl=300)
    issued = await site.client.post(
        "/api/ssh/certificate",
        json={"key": user_public_key(), "ttl": 3600},
        headers=auth(session.token),
    )
    cert = parse_certificate_line(issued.json()["certificate"])
    assert cert.valid_before <= session.expires_at


async def test_logout_revokes_the_certificates_of_that_session_only(site: Site) -> None:
    await site.add_user("alice")
    ending, staying = await site.token("alice"), await site.token("alice")
    serials = []
    for bearer in (ending, staying):
        issued = await site.client.post(
            "/api/ssh/certificate", json={"key": user_public_key()}, headers=auth(bearer)
        )
        serials.append(issued.json()["serial"])
    assert (await site.client.post("/api/auth/logout", headers=auth(ending))).status_code == 204
    gone, kept = [await site.store.get_certificate(s) for s in serials]
    assert gone is not None and gone.revoked_at is not None
    assert kept is not None and kept.revoked_at is None


async def change_password(site: Site, session: str) -> None:
    changed = await site.client.post(
        "/api/account/password",
        json={"old_password": PASSWORD, "new_password": "another long passphrase"},
        headers=auth(session),
    )
    assert changed.status_code == 200 and changed.json()["tokens_revoked"] == 1


ENDINGS: dict[str, Callable[[Site, str], Awaitable[object]]] = {
    "password-change": change_password,
    "password-reset": lambda site, _: Operator(site.store).reset_password(
        "alice", hash_password("a reset passphrase")
    ),
    "user-disable": lambda site, _: Operator(site.store).disable_user("alice"),
    "mfa-reset": lambda site, _: Operator(site.store).reset_mfa("alice"),
}


@pytest.mark.parametrize("event", list(ENDINGS))
async def test_password_change_reset_disable_and_mfa_reset_end_every_token(
    site: Site, event: str
) -> None:
    await site.add_user("alice")
    session = await site.token("alice")
    token = await new_token(site, session, scope="account")
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 200
    await ENDINGS[event](site, session)
    if event == "user-disable":
        await Operator(site.store).enable_user("alice")  # enabling again brings nothing back
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 401


async def test_an_unknown_scope_is_an_invalid_request(site: Site) -> None:
    await site.add_user("alice")
    session = await site.token("alice")
    response = await site.client.post(
        "/api/tokens", json={"name": "ci", "scope": "admin"}, headers=auth(session)
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
