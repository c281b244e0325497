"""Behind a reverse proxy (issue 13 item 3): `api.trusted_proxies` names the peers whose
X-Forwarded-For / Forwarded are believed, so that the password throttle, the audit and
`ca.bind_source_address` see the real client; anyone else's headers are ignored."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sshgate.accounts.bearer import bearer_hash
from sshgate.api.app import CONFLICTING_FORWARDING
from sshgate.ca.certificate import parse_certificate_line
from sshgate.store import SQLiteStore
from tests.api.conftest import PASSWORD, Site, auth, make_config, open_site, user_public_key

PROXY = "127.0.0.1"


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Site]:
    """The API with 127.0.0.0/8 as trusted proxies, every request coming from 127.0.0.1."""
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config,
        api=dataclasses.replace(config.api, trusted_proxies=("127.0.0.0/8",)),
        ca=dataclasses.replace(config.ca, bind_source_address=True),
    )
    store = await SQLiteStore.open(str(tmp_path / "sshgate.db"))
    async with open_site(tmp_path, store, config, peer=PROXY) as site:
        yield site


async def login_from(site: Site, client: str, username: str, password: str) -> httpx.Response:
    return await site.client.post(
        "/api/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": client},
    )


async def test_a_stranger_behind_the_proxy_does_not_lock_out_other_clients(
    proxied: Site,
) -> None:
    await proxied.add_user("alice")
    for i in range(10):
        failed = await login_from(proxied, "203.0.113.7", f"nobody{i}", "guess")
        assert failed.status_code == 401
    assert (await login_from(proxied, "203.0.113.7", "alice", PASSWORD)).status_code == 429
    assert (await login_from(proxied, "198.51.100.9", "alice", PASSWORD)).status_code == 200


async def test_forwarded_header_names_the_client_too(proxied: Site) -> None:
    await proxied.add_user("alice")
    for i in range(10):
        await proxied.client.post(
            "/api/auth/login",
            json={"username": f"nobody{i}", "password": "guess"},
            headers={"Forwarded": 'for="[2001:db8::7]:4711";proto=https'},
        )
    other = await proxied.client.post(
        "/api/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"Forwarded": "for=192.0.2.99"},
    )
    assert other.status_code == 200


async def test_the_certificate_binds_the_forwarded_client_and_the_session_records_it(
    proxied: Site,
) -> None:
    await proxied.add_user("alice")
    login = await login_from(proxied, "198.51.100.9", "alice", PASSWORD)
    bearer = login.json()["token"]
    issued = await proxied.client.post(
        "/api/ssh/certificate",
        json={"key": user_public_key()},
        headers={**auth(bearer), "X-Forwarded-For": "10.9.8.7, 198.51.100.9"},
    )
    cert = parse_certificate_line(issued.json()["certificate"])
    assert cert.critical_option_value("source-address") == b"198.51.100.9"
    principal = await proxied.accounts.session_from_token(bearer)
    session = await proxied.store.get_login_session(bearer_hash(bearer))
    assert session is not None and session.client == "198.51.100.9" and principal.jti == session.id


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(site: Site) -> None:
    """The default site's peer (192.0.2.10) is no trusted proxy: inventing a new forwarded
    address per guess does not escape the address throttle."""
    await site.add_user("alice")
    for i in range(10):
        failed = await login_from(site, f"203.0.113.{i}", f"nobody{i}", "guess")
        assert failed.status_code == 401
    assert (await login_from(site, "198.51.100.9", "alice", PASSWORD)).status_code == 429


async def test_a_client_forwarded_header_against_the_proxys_x_forwarded_for_is_refused(
    proxied: Site,
) -> None:
    """nginx and HAProxy append to X-Forwarded-For and pass the client's own Forwarded on:
    headers naming different clients are refused with 400 before the password is checked,
    so no throttle slot is taken (the ten wrong passwords below count for nobody)."""
    await proxied.add_user("alice")
    for i in range(12):
        refused = await proxied.client.post(
            "/api/auth/login",
            json={"username": "alice", "password": "guess"},
            headers={"X-Forwarded-For": "203.0.113.7", "Forwarded": f"for=198.51.100.{i}"},
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "error": "conflicting_forwarding",
            "message": CONFLICTING_FORWARDING,
        }
    page = await proxied.client.post(
        "/sign-in",
        data={"username": "alice", "password": "guess"},
        headers={"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=198.51.100.1"},
    )
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert CONFLICTING_FORWARDING in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    agreeing = await proxied.client.post(
        "/api/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7"},
    )
    assert agreeing.status_code == 200
    session = await proxied.store.get_login_session(bearer_hash(agreeing.json()["token"]))
    assert session is not None and session.client == "203.0.113.7"
