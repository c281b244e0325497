"""`sshgate serve --role gateway` runs without the user CA's private keys."""

from __future__ import annotations

import shutil
from pathlib import Path

from sshgate.demo.sshd import free_port
from tests.e2e.conftest import Deployment
from tests.support.deployment import Client, Server


def test_gateway_role_serves_without_user_ca_private_keys(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    data = tmp_path / "gateway-host"
    shutil.copytree(deployment.root / "data", data)
    removed = list((data / "ca").glob("*.key"))
    assert removed, "the copied key folder should have held a private key"
    for key in removed:
        key.unlink()
    # Same store: the gateway host only needs the database, its host key and the upstream CA key.
    port = free_port()
    server = Server(
        data / "config.toml",
        {
            "SSHGATE_STORAGE_URL": f"sqlite:///{deployment.root / 'data' / 'sshgate.db'}",
            "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        },
        role="gateway",
    )
    server.start()
    try:
        client = Client(
            "alice-via-gateway-role", tmp_path / "alice", port, deployment.gateway_host_key()
        )
        client.key.write_bytes(alice.key.read_bytes())
        client.key.chmod(0o600)
        client.cert.write_bytes(alice.cert.read_bytes())
        Path(f"{client.key}.pub").write_text(alice.public_key + "\n")
        result = client.ssh(deployment.service, "echo via gateway role")
        assert result.returncode == 0, result.stderr + server.log().encode()
        assert result.stdout == b"via gateway role\n"
    finally:
        server.stop()
    assert not list((data / "ca").glob("*.key"))


def test_api_role_refuses_to_start_without_a_ca_key(deployment: Deployment, tmp_path: Path) -> None:
    data = tmp_path / "api-host"
    shutil.copytree(deployment.root / "data", data)
    for key in (data / "ca").glob("*.key"):
        key.unlink()
    server = Server(
        data / "config.toml",
        {
            "SSHGATE_API_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        },
        role="api",
    )
    try:
        server.start(timeout=20)
    except AssertionError as exc:
        assert "exited early" in str(exc)
        assert "cannot start" in server.log()
    else:
        raise AssertionError("the api role started without a CA key")
    finally:
        server.stop()
