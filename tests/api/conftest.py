"""The API app over a real SQLite store in tmp_path, a real CA key folder and secrets key,
driven in-process through httpx's ASGI transport. The accounts service gets a clock that the
tests move from one TOTP time step to the next instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from sshgate.accounts import Accounts, SecretBox, hash_password
from sshgate.accounts.secretbox import write_key_file
from sshgate.api import build_authority, create_app
from sshgate.ca.keys import KeyDir, fingerprint
from sshgate.config import CAConfig, Config, GatewayConfig, SecretsConfig
from sshgate.policy.model import User
from sshgate.store import SQLiteStore, Store

PASSWORD = "correct horse battery"
CLIENT_ADDRESS = "192.0.2.10"
# A host, not an IP address: browsers (and so security keys) need one as relying party id.
PUBLIC_URL = "http://localhost:8022"


class Clock:
    """Starts at the beginning of the current real TOTP step (certificates use real time)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) // 30 * 30)

    def __call__(self) -> float:
        return self.now

    def next_step(self) -> float:
        self.now = (int(self.now) // 30 + 1) * 30.0
        return self.now


@dataclass
class Site:
    config: Config
    store: Store
    accounts: Accounts
    clock: Clock
    app: FastAPI
    client: httpx.AsyncClient

    async def add_user(self, username: str, password: str = PASSWORD) -> User:
        return await self.store.create_user(
            username, f"{username}@example.com", hash_password(password)
        )

    async def login(
        self, username: str, password: str = PASSWORD, totp: str | None = None
    ) -> httpx.Response:
        body = {"username": username, "password": password}
        if totp is not None:
            body["totp"] = totp
        return await self.client.post("/api/auth/login", json=body)

    async def token(self, username: str, totp: str | None = None) -> str:
        response = await self.login(username, totp=totp)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    async def enable_mfa(self, bearer: str) -> tuple[str, list[str]]:
        """Setup and verify through the API, with a code computed from the returned secret."""
        setup = await self.client.post("/api/account/mfa/setup", headers=auth(bearer))
        assert setup.status_code == 200, setup.text
        secret = setup.json()["secret"]
        verify = await self.client.post(
            "/api/account/mfa/verify",
            json={"code": pyotp.TOTP(secret).at(self.clock())},
            headers=auth(bearer),
        )
        assert verify.status_code == 200, verify.text
        return secret, list(verify.json()["recovery_codes"])


def wrong_code(secret: str, at: float) -> str:
    """A six-digit code that is not valid within ±1 step of `at`."""
    valid = {pyotp.TOTP(secret).at(at + 30 * d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


def auth(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


def user_public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return (
        key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        + " user@laptop"
    )


def make_config(tmp_path: Path) -> Config:
    return Config(
        base_dir=tmp_path,
        ca=CAConfig(key_dir=tmp_path / "ca"),
        gateway=GatewayConfig(
            listen="127.0.0.1:2222", public_host="gw.example.com", public_port=22
        ),
        secrets=SecretsConfig(key_file=tmp_path / "secrets.key"),
    )


@asynccontextmanager
async def open_site(
    tmp_path: Path, store: Store, config: Config | None = None, peer: str = CLIENT_ADDRESS
) -> AsyncIterator[Site]:
    """The API app over `store` (closed at the end), driven through httpx's ASGI transport."""
    config = config or make_config(tmp_path)
    keydir = KeyDir(config.ca.key_dir)
    keydir.ensure()
    if not config.secrets.key_file.exists():  # a second replica shares the first's
        write_key_file(config.secrets.key_file)
    for line in keydir.public_keys():
        await store.record_ca_key(fingerprint(line), line, time.time() - 10)
    clock = Clock()
    box = SecretBox.from_file(config.secrets.key_file)
    accounts = Accounts(store, box, now=clock, public_url=PUBLIC_URL)
    app = create_app(config, store, build_authority(config, store), accounts)
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sshgate.test") as client:
        try:
            yield Site(config, store, accounts, clock, app, client)
        finally:
            await store.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with open_site(tmp_path, await SQLiteStore.open(str(tmp_path / "sshgate.db"))) as s:
        yield s
