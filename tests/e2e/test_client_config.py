"""`sshgate login` against a real `sshgate serve` whose store holds a crafted gateway host:
what a compromised gateway host (which records its own address in the shared store) could
send never reaches the user's ssh_config."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.support.deployment import CLI

pytestmark = pytest.mark.e2e

# Any valid key line: a row of its own beside the real gateway's.
FAKE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGU="


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("clientconfig"))
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


@contextlib.contextmanager
def crafted_gateway_host(d: Deployment, host: str) -> Iterator[None]:
    """A gateway host record that is the newest, as a compromised gateway could write."""
    database = sqlite3.connect(d.config.parent / "sshgate.db", timeout=30)
    try:
        with database:
            database.execute(
                "INSERT INTO gateway_host_keys (public_key, public_host, public_port, recorded_at)"
                " VALUES (?, ?, ?, ?)",
                (FAKE_KEY, host, 2222, time.time() + 3600),
            )
        yield
    finally:
        with database:
            database.execute("DELETE FROM gateway_host_keys WHERE public_key = ?", (FAKE_KEY,))
        database.close()


def login(d: Deployment, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SSHGATE_HOME": str(home)}
    env.pop("SSH_AUTH_SOCK", None)
    env.pop("SSHGATE_CONFIG", None)
    api = f"http://127.0.0.1:{d.api_port}"
    return subprocess.run(
        [*CLI, "login", "-f", "--api", api, "--user", "alice", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_a_crafted_stored_gateway_host_never_reaches_ssh_config(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / ".sshgate"
    first = login(deployment, home)
    assert first.returncode == 0, first.stderr
    written = (home / "ssh_config").read_bytes()
    assert f"Port {deployment.gateway_port}\n".encode() in written
    marker = tmp_path / "pwned"
    with crafted_gateway_host(deployment, f"127.0.0.1\n  ProxyCommand touch {marker}\nMatch all"):
        refused = login(deployment, home)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("sshgate: refusing the gateway address the API sent: ")
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert (home / "ssh_config").read_bytes() == written  # the previous login's, untouched
    assert not marker.exists()
    # Without the crafted record, the same login writes the real gateway again.
    assert login(deployment, home).returncode == 0
