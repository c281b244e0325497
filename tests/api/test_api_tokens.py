"""API tokens: created from a login, carrying its amr; listed without secrets; revoked."""

from __future__ import annotations

import pyotp

from sshgate.ca.certificate import parse_certificate_line
from sshgate.ca.claims import CLAIMS_EXTENSION, decode_claims
from tests.api.conftest import Site, auth, user_public_key


async def test_token_lifecycle(site: Site) -> None:
    await site.add_user("alice")
    session = await site.token("alice")
    created = await site.client.post("/api/tokens", json={"name": "ci"}, headers=auth(session))
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("sgt_") and body["amr"] == ["pwd"] and body["name"] == "ci"

    listed = await site.client.get("/api/tokens", headers=auth(session))
    (item,) = listed.json()["items"]
    assert item["id"] == body["id"] and "token" not in item and item["last_used_at"] is None

    account = await site.client.get("/api/account", headers=auth(body["token"]))
    assert account.json()["bearer"] == "token" and account.json()["expires_at"] is None
    cert = await site.client.post(
        "/api/ssh/certificate", json={"key": user_public_key()}, headers=auth(body["token"])
    )
    claims_value = parse_certificate_line(cert.json()["certificate"]).extension_value(
        CLAIMS_EXTENSION
    )
    assert claims_value is not None and decode_claims(claims_value).jti == body["id"]
    (item,) = (await site.client.get("/api/tokens", headers=auth(session))).json()["items"]
    assert item["last_used_at"] is not None

    revoked = await site.client.delete(f"/api/tokens/{body['id']}", headers=auth(session))
    assert revoked.status_code == 204
    assert (await site.client.get("/api/account", headers=auth(body["token"]))).status_code == 401
    again = await site.client.delete(f"/api/tokens/{body['id']}", headers=auth(session))
    assert again.status_code == 404
    assert (await site.client.get("/api/tokens", headers=auth(session))).json() == {"items": []}


async def test_a_token_cannot_create_tokens_or_log_out(site: Site) -> None:
    await site.add_user("alice")
    session = await site.token("alice")
    token = await site.client.post("/api/tokens", json={"name": "ci"}, headers=auth(session))
    bearer = token.json()["token"]
    refused = await site.client.post("/api/tokens", json={"name": "x"}, headers=auth(bearer))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert (await site.client.post("/api/auth/logout", headers=auth(bearer))).status_code == 403


async def test_other_users_tokens_cannot_be_revoked(site: Site) -> None:
    await site.add_user("alice")
    await site.add_user("bob")
    alice = await site.token("alice")
    made = await site.client.post("/api/tokens", json={"name": "ci"}, headers=auth(alice))
    bob = await site.token("bob")
    response = await site.client.delete(f"/api/tokens/{made.json()['id']}", headers=auth(bob))
    assert response.status_code == 404


async def test_token_made_before_mfa_keeps_pwd_and_one_made_after_has_mfa(site: Site) -> None:
    await site.add_user("bob")
    session = await site.token("bob")
    before = await site.client.post("/api/tokens", json={"name": "old"}, headers=auth(session))
    secret, _ = await site.enable_mfa(session)
    mfa_session = await site.token("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    after = await site.client.post("/api/tokens", json={"name": "new"}, headers=auth(mfa_session))
    assert after.json()["amr"] == ["pwd", "otp", "mfa"]
    old_account = await site.client.get("/api/account", headers=auth(before.json()["token"]))
    assert old_account.json()["amr"] == ["pwd"]
    items = (await site.client.get("/api/tokens", headers=auth(mfa_session))).json()["items"]
    assert {i["name"]: i["amr"] for i in items} == {"old": ["pwd"], "new": ["pwd", "otp", "mfa"]}


async def test_bad_token_names_are_400(site: Site) -> None:
    await site.add_user("alice")
    session = await site.token("alice")
    for name in ("", "   ", "x" * 65, "tab\there"):
        response = await site.client.post("/api/tokens", json={"name": name}, headers=auth(session))
        assert response.status_code == 400, name
