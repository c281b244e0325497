"""The leaked CA key runbook on PostgreSQL, with two gateway processes sharing the database:
A (`serve`, role all) and B (`serve --role gateway`). A certificate forged with the CA key
is refused by both, a revoked serial of a `ca.trusted_public_keys` CA is refused by both,
and a distrusted key is refused by both within a second of `sshgate admin ca distrust`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sshgate.ca import KeyDir, fingerprint, load_private_key, public_key_line
from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.e2e.test_leaked_ca_key import USER_KEY, certificate
from tests.support.deployment import Server, wait_until
from tests.support.fleet import Ports, api
from tests.support.postgres import PostgresCluster
from tests.support.rawclient import try_auth

pytestmark = pytest.mark.e2e

PARTNER_CA = ed25519.Ed25519PrivateKey.generate()
DISTRUST_DEADLINE = 1.0  # README: every gateway sharing the store, within 1 second
MARGIN = 0.5  # the attempt that sees it is a whole SSH handshake, on a loaded machine


@dataclass
class Pair:
    d: Deployment
    b: Server
    b_ports: Ports

    @property
    def ports(self) -> list[int]:
        return [self.d.gateway_port, self.b_ports.gateway]


@pytest.fixture(scope="module")
def pair(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("leaked-ca-pg")
    partner = root / "partner_ca.pub"
    partner.write_text(public_key_line(PARTNER_CA.public_key()) + " partner\n")
    with contextlib.ExitStack() as stack:
        url = asyncio.run(postgres_cluster.create_database())
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("SSHGATE_STORAGE_URL", url)
        env.setenv("SSHGATE_CA_TRUSTED_PUBLIC_KEYS", str(partner))
        d = start_deployment(root)
        stack.callback(d.env.stop)
        stack.callback(d.server.stop)
        b_ports = Ports.free()
        b = Server(d.config, b_ports.overrides(), role="gateway")
        stack.callback(b.stop)
        b.start()
        yield Pair(d, b, b_ports)


def accepted_on(port: int, service: str, blob: bytes) -> bool:
    return asyncio.run(try_auth("127.0.0.1", port, service, USER_KEY, blob))


def issued(pair: Pair) -> bytes:
    """A certificate the CA issued for USER_KEY, through the API."""
    port = pair.d.api_port
    login = httpx.post(
        f"{api(port)}/api/auth/login",
        json={"username": "alice", "password": PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    response = httpx.post(
        f"{api(port)}/api/ssh/certificate",
        json={"key": USER_KEY.export_public_key("openssh").decode().strip()},
        headers={"Authorization": f"Bearer {login.json()['token']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["certificate"].split()[1])


def test_a_forged_certificate_is_refused_by_every_gateway(pair: Pair) -> None:
    path, _ = KeyDir(pair.d.root / "data" / "ca").active()
    forged = certificate(pair.d, load_private_key(path), serial=secrets.randbits(63))
    good = issued(pair)
    for port in pair.ports:
        assert accepted_on(port, pair.d.service, good)
        assert not accepted_on(port, pair.d.service, forged)


def test_a_revoked_trusted_ca_serial_is_refused_by_every_gateway(pair: Pair) -> None:
    blob = certificate(pair.d, PARTNER_CA, serial=7171)
    assert all(accepted_on(port, pair.d.service, blob) for port in pair.ports)
    pair.d.admin("cert", "revoke", "7171")
    for port in pair.ports:
        assert wait_until(lambda p=port: not accepted_on(p, pair.d.service, blob), timeout=5)


def test_a_distrusted_key_is_refused_by_every_gateway_within_a_second(pair: Pair) -> None:
    path, _ = KeyDir(pair.d.root / "data" / "ca").active()
    old_fp = fingerprint(load_private_key(path).public_key())
    blob = issued(pair)
    pair.d.admin("ca", "rotate")
    assert all(accepted_on(port, pair.d.service, blob) for port in pair.ports)
    pair.d.admin("ca", "distrust", old_fp)
    started = time.monotonic()
    for port in pair.ports:
        assert wait_until(lambda p=port: not accepted_on(p, pair.d.service, blob), timeout=5)
    elapsed = time.monotonic() - started
    assert elapsed < DISTRUST_DEADLINE + MARGIN, f"{elapsed:.2f}s until both gateways refused"
    renewed = issued(pair)  # signed by the new key
    assert all(accepted_on(port, pair.d.service, renewed) for port in pair.ports)
