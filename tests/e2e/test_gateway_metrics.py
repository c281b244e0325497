"""The gateway's instrumentation: a Gateway in this process, a real sshd as the environment,
an asyncssh client with a certificate from the CA, and the values of sshgate.metrics'
registry and the log lines before and after."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from sshgate import metrics
from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca.keys import KeyDir
from sshgate.config import load_config
from sshgate.datadir import initialize
from sshgate.demo.sshd import EnvironmentServer, SSHDError, find_sshd
from sshgate.policy.model import Endpoint, Environment, OrgRole, Project, ProjectRole
from sshgate.policy.naming import new_machine_name, new_project_id, parse_host_key_lines
from sshgate.ssh_gateway.gateway import Gateway
from sshgate.ssh_gateway.upstream import UpstreamSigner
from sshgate.store import Store, open_store

pytestmark = pytest.mark.e2e

try:
    find_sshd()
except SSHDError:
    pytest.skip("OpenSSH server not installed", allow_module_level=True)


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@dataclass
class World:
    data: Path
    env: EnvironmentServer


@dataclass
class Running:
    gateway: Gateway
    service: str
    key: asyncssh.SSHKey
    cert: asyncssh.SSHCertificate


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    initialize(tmp_path / "data", gateway="127.0.0.1:0")
    env = EnvironmentServer(tmp_path / "env", trusted_user_ca=tmp_path / "data" / "upstream_ca.pub")
    env.start()
    try:
        yield World(tmp_path / "data", env)
    finally:
        env.stop()


@pytest.fixture
async def running(world: World) -> AsyncIterator[Running]:
    config = load_config(world.data / "config.toml", env={})
    store = await open_store(config.storage.url, str(config.base_dir))
    gateway = None
    try:
        service, user_id = await _bootstrap(store, world.env)
        key, cert = await _certificate(store, world.data, user_id)
        gateway = Gateway(
            config,
            store,
            [asyncssh.read_private_key(world.data / "gateway_host_key")],
            UpstreamSigner(asyncssh.read_private_key(world.data / "upstream_ca.key")),
        )
        await gateway.start()
        yield Running(gateway, service, key, cert)
    finally:
        if gateway is not None:
            await gateway.close()
        await store.close()


async def _bootstrap(store: Store, env: EnvironmentServer) -> tuple[str, str]:
    user = await store.create_user("alice", "alice@example.com", "not-a-real-hash")
    await store.create_org("acme")
    await store.set_member("acme", user.id, OrgRole.MEMBER)
    project = await store.create_project(Project(new_project_id(), "acme", "Acme"))
    await store.set_grant(project.id, user.id, ProjectRole.CONTRIBUTOR)
    host_keys = parse_host_key_lines(env.host_key_pub.read_text())
    created = await store.add_environment(
        Environment(
            project.id,
            "main",
            new_machine_name("main"),
            "app",
            Endpoint(env.login_user, env.host, env.port, host_keys),
        )
    )
    return created.service, user.id


async def _certificate(
    store: Store, data: Path, user_id: str
) -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]:
    user = await store.get_user(user_id)
    assert user is not None
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = key.export_public_key("openssh").decode().strip()
    ca = CertificateAuthority(KeyDir(data / "ca"), store, CAPolicy())
    issued = await ca.issue(user, public, ("pwd",), int(time.time()), str(uuid.uuid4()))
    return key, asyncssh.import_certificate(issued.certificate)


def connect(r: Running, username: str, keys: Any) -> Any:
    return asyncssh.connect(
        "127.0.0.1",
        r.gateway.port,
        username=username,
        client_keys=keys,
        known_hosts=None,
        config=[],
        agent_path=None,
        encoding=None,
    )


def fields(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [
        dict(getattr(record, "fields", {}))
        for record in caplog.records
        if record.name == "sshgate" and record.getMessage() == event
    ]


async def test_a_relayed_session_is_counted_and_logged_once_at_each_end(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sshgate")
    allow = {"kind": "exec", "decision": "allow", "rule": "allow"}
    before = {
        "connections": sample("sshgate_gateway_connections_total"),
        "allowed": sample("sshgate_gateway_decisions_total", **allow),
        "in": sample("sshgate_gateway_relayed_bytes_total", direction="to_environment"),
        "out": sample("sshgate_gateway_relayed_bytes_total", direction="to_client"),
        "upstream": sample("sshgate_gateway_upstream_connect_seconds_count", outcome="ok"),
    }
    payload = b"x" * 100_000
    async with connect(running, running.service, [(running.key, running.cert)]) as conn:
        process = await conn.create_process("cat", encoding=None)
        process.stdin.write(payload)
        assert await process.stdout.readexactly(len(payload)) == payload
        assert sample("sshgate_gateway_active_sessions") == 1
        assert sample("sshgate_gateway_connections_open") == 1
        process.stdin.write_eof()
        result = await process.wait()
        assert result.exit_status == 0
    assert sample("sshgate_gateway_active_sessions") == 0
    assert sample("sshgate_gateway_connections_total") == before["connections"] + 1
    assert sample("sshgate_gateway_decisions_total", **allow) == before["allowed"] + 1
    relayed_in = sample("sshgate_gateway_relayed_bytes_total", direction="to_environment")
    relayed_out = sample("sshgate_gateway_relayed_bytes_total", direction="to_client")
    assert relayed_in - before["in"] == len(payload)
    assert relayed_out - before["out"] == len(payload)
    upstream = sample("sshgate_gateway_upstream_connect_seconds_count", outcome="ok")
    assert upstream == before["upstream"] + 1

    decisions = fields(caplog, "decision")
    assert [(d["kind"], d["decision"], d["rule"]) for d in decisions] == [
        ("exec", "allow", "allow")
    ]
    (end,) = fields(caplog, "session_end")
    assert (end["kind"], end["bytes_in"], end["bytes_out"], end["exit_status"]) == (
        "exec",
        len(payload),
        len(payload),
        0,
    )
    assert end["duration"] > 0 and end["service"] == running.service


async def test_refusals_are_counted_by_rule(running: Running) -> None:
    not_cert = {"rule": "not-a-certificate"}
    unknown = {"kind": "exec", "decision": "deny", "rule": "unknown-service"}
    refused_before = sample("sshgate_gateway_auth_refusals_total", **not_cert)
    unknown_before = sample("sshgate_gateway_decisions_total", **unknown)
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(running, running.service, [running.key]):
            pass
    assert sample("sshgate_gateway_auth_refusals_total", **not_cert) == refused_before + 1
    async with connect(running, "no-such-service", [(running.key, running.cert)]) as conn:
        result = await conn.run("true")
        assert result.exit_status == 1
    assert sample("sshgate_gateway_decisions_total", **unknown) == unknown_before + 1


async def test_a_failed_upstream_connection_is_timed_as_failed(
    running: Running, world: World
) -> None:
    failed_before = sample("sshgate_gateway_upstream_connect_seconds_count", outcome="failed")
    world.env.stop()
    async with connect(running, running.service, [(running.key, running.cert)]) as conn:
        result = await conn.run("true")
    assert result.exit_status == 255
    after = sample("sshgate_gateway_upstream_connect_seconds_count", outcome="failed")
    assert after == failed_before + 1


def test_certificates_issued_counter_is_exported_for_the_ca() -> None:
    before = sample("sshgate_ca_certificates_issued_total")
    metrics.certificate_issued()
    assert sample("sshgate_ca_certificates_issued_total") == before + 1
