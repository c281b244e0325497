"""Certificates and the authority: the claims carry the bearer's amr, auth_time and jti."""

from __future__ import annotations

import dataclasses
import json
import time

import httpx
import pyotp
import pytest

from sshgate.api import build_authority, create_app
from sshgate.ca.certificate import parse_certificate_line
from sshgate.ca.claims import CLAIMS_EXTENSION, MFA_EXTENSION, decode_claims
from sshgate.store import GatewayHostKey
from tests.api.conftest import CLIENT_ADDRESS, Site, auth, user_public_key


async def issue(site: Site, bearer: str, **body: object) -> httpx.Response:
    return await site.client.post(
        "/api/ssh/certificate", json={"key": user_public_key(), **body}, headers=auth(bearer)
    )


async def test_certificate_after_login_without_mfa_has_pwd_only(site: Site) -> None:
    alice = await site.add_user("alice")
    login = (await site.login("alice")).json()
    response = await issue(site, login["token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["amr"] == ["pwd"]
    cert = parse_certificate_line(body["certificate"])
    assert cert.signature_valid and cert.serial == body["serial"]
    assert cert.key_id == alice.id and cert.principals == ("alice",)
    claims_value = cert.extension_value(CLAIMS_EXTENSION)
    assert claims_value is not None
    claims = decode_claims(claims_value)
    assert claims.sub == alice.id and claims.amr == ("pwd",)
    assert claims.auth_time == int(site.clock())
    assert cert.extension_value(MFA_EXTENSION) is None
    assert cert.valid_before - cert.valid_after == site.config.ca.certificate_ttl + 60
    record = await site.store.get_certificate(cert.serial)
    assert record is not None and record.jti == claims.jti and record.amr == ("pwd",)


async def test_certificate_after_login_with_mfa_has_mfa(site: Site) -> None:
    await site.add_user("bob")
    secret, _ = await site.enable_mfa(await site.token("bob"))
    token = await site.token("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    response = await issue(site, token, ttl=600)
    assert response.status_code == 200, response.text
    assert response.json()["amr"] == ["pwd", "otp", "mfa"]
    cert = parse_certificate_line(response.json()["certificate"])
    claims_value = cert.extension_value(CLAIMS_EXTENSION)
    assert claims_value is not None
    assert json.loads(claims_value)["amr"] == ["pwd", "otp", "mfa"]
    assert cert.extension_value(MFA_EXTENSION) == b""
    assert cert.valid_before - cert.valid_after == 600 + 60


async def test_certificate_binds_the_client_address_when_configured(site: Site) -> None:
    await site.add_user("alice")
    config = dataclasses.replace(
        site.config, ca=dataclasses.replace(site.config.ca, bind_source_address=True)
    )
    app = create_app(config, site.store, build_authority(config, site.store), site.accounts)
    transport = httpx.ASGITransport(app=app, client=(CLIENT_ADDRESS, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        token = await site.token("alice")
        response = await client.post(
            "/api/ssh/certificate", json={"key": user_public_key()}, headers=auth(token)
        )
    cert = parse_certificate_line(response.json()["certificate"])
    assert cert.critical_option_value("source-address") == CLIENT_ADDRESS.encode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, "invalid_key"),
        ({"key": "not a key"}, "invalid_key"),
        ({"key": user_public_key(), "ttl": 86401}, "invalid_ttl"),
        ({"key": user_public_key(), "ttl": 0}, "invalid_ttl"),
    ],
    ids=["dsa", "garbage", "ttl-above-maximum", "ttl-zero"],
)
async def test_refused_key_or_ttl_is_400_with_one_line(
    site: Site, body: dict[str, object], error: str
) -> None:
    await site.add_user("alice")
    token = await site.token("alice")
    response = await site.client.post("/api/ssh/certificate", json=body, headers=auth(token))
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "\n" not in response.json()["message"]


async def test_certificate_needs_a_bearer(site: Site) -> None:
    response = await site.client.post("/api/ssh/certificate", json={"key": user_public_key()})
    assert response.status_code == 401


async def test_without_a_ca_certificates_are_503(site: Site) -> None:
    await site.add_user("alice")
    token = await site.token("alice")
    app = create_app(site.config, site.store, None, site.accounts)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/api/ssh/certificate", json={"key": user_public_key()}, headers=auth(token)
        )
    assert response.status_code == 503 and response.json()["error"] == "no_ca"


async def test_authority_lists_trusted_ca_keys_and_the_gateway(site: Site) -> None:
    ca_keys = [r.public_key for r in await site.store.list_ca_keys()]
    fallback = (await site.client.get("/api/ssh/authority")).json()
    assert fallback == {
        "trusted_ca_keys": ca_keys,
        "gateway": {"host": "gw.example.com", "port": 22, "host_keys": []},
    }
    now = time.time()
    for key, host, port, at in (
        ("ssh-ed25519 AAAAold", "old.example.com", 2222, now - 100),
        ("ssh-ed25519 AAAAone", "gw.example.com", 2200, now - 10),
        ("ssh-ed25519 AAAAtwo", "gw.example.com", 2200, now),
    ):
        await site.store.record_gateway_host_key(GatewayHostKey(key, host, port, at))
    body = (await site.client.get("/api/ssh/authority")).json()
    assert body["gateway"] == {
        "host": "gw.example.com",
        "port": 2200,
        "host_keys": ["ssh-ed25519 AAAAone", "ssh-ed25519 AAAAtwo"],
    }


async def test_a_rotated_out_ca_key_stays_listed_until_its_certificates_expire(
    site: Site,
) -> None:
    max_ttl = site.config.ca.max_certificate_ttl
    (current,) = await site.store.list_ca_keys()
    old = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldOldOldOldOldOldOldOldOldOldOldOldOldOld"
    ancient = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAncientAncientAncientAncientAncientAnc"
    await site.store.record_ca_key("SHA256:ancient", ancient, current.added_at - 3 * max_ttl)
    await site.store.record_ca_key("SHA256:old", old, current.added_at - 2 * max_ttl)
    keys = (await site.client.get("/api/ssh/authority")).json()["trusted_ca_keys"]
    # "old" was retired when the current key was added, moments ago: still trusted
    assert keys == [old, current.public_key]


async def test_no_certificate_is_signed_with_a_distrusted_active_key(site: Site) -> None:
    await site.add_user("alice")
    token = (await site.login("alice")).json()["token"]
    (active,) = await site.store.list_ca_keys()
    await site.store.distrust_ca_key(active.fingerprint, time.time())
    response = await issue(site, token)
    assert response.status_code == 503
    assert response.json()["message"] == "the certificate authority is unavailable"
    keys = (await site.client.get("/api/ssh/authority")).json()["trusted_ca_keys"]
    assert active.public_key not in keys
