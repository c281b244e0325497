"""Operating a running gateway: SIGHUP reloads the configuration for new sessions without
dropping open ones, `sshgate admin ca rotate` takes effect without a restart (old
certificates stay valid), and SIGTERM drains: open sessions get `drain_timeout` seconds,
then the documented line, while new connections are refused."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from sshgate.demo.sshd import free_port
from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import (
    Client,
    Server,
    log_count,
    open_session,
    ssh_with,
    wait_until,
)

DRAINING = b"sshgate: the gateway is restarting; reconnect\n"
DRAIN_TIMEOUT = 3


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("lifecycle"))
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def env_seen(client: Client, service: str) -> bytes:
    return ssh_with(
        client,
        service,
        'echo "${LANG-unset}|${LC_PAPER-unset}"',
        options=("-o", "SetEnv=LANG=fr_FR.UTF-8 LC_PAPER=de_DE"),
    ).stdout


# --- SIGHUP -----------------------------------------------------------------------------------


def test_sighup_applies_a_new_env_allowlist_to_new_sessions_only(
    deployment: Deployment, alice: Client
) -> None:
    assert env_seen(alice, deployment.service) == b"fr_FR.UTF-8|unset\n"
    open_one = open_session(alice, deployment.service, 'read line; echo "got $line"')
    original = deployment.config.read_text()
    try:
        deployment.config.write_text(
            original.replace("[gateway]\n", '[gateway]\nenv_allowlist = ["LC_PAPER"]\n', 1)
        )
        _reload(deployment)
        assert env_seen(alice, deployment.service) == b"unset|de_DE\n"
        out, err = open_one.communicate(b"still here\n", timeout=30)
        assert open_one.returncode == 0, err
        assert out == b"got still here\n"
    finally:
        open_one.kill()
        deployment.config.write_text(original)
        _reload(deployment)
    assert env_seen(alice, deployment.service) == b"fr_FR.UTF-8|unset\n"


def test_a_bad_configuration_on_sighup_keeps_the_running_one(
    deployment: Deployment, alice: Client
) -> None:
    original = deployment.config.read_text()
    failed = log_count(deployment.server, "reload_failed")
    try:
        deployment.config.write_text(original + "\n[gateway\n")
        assert deployment.server.process is not None
        deployment.server.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: log_count(deployment.server, "reload_failed") > failed, 20)
        assert alice.ssh(deployment.service, "echo alive").stdout == b"alive\n"
    finally:
        deployment.config.write_text(original)


def _reload(d: Deployment) -> None:
    before = log_count(d.server, "reloaded")
    assert d.server.process is not None
    d.server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: log_count(d.server, "reloaded") > before, 20), d.server.log()


# --- CA rotation --------------------------------------------------------------------------------


def test_ca_rotation_trusts_the_new_key_at_once_and_keeps_the_old_one(
    deployment: Deployment, alice: Client
) -> None:
    old_signer = _signing_ca(alice)
    assert alice.ssh(deployment.service, "echo old").stdout == b"old\n"
    rotated = deployment.admin("ca", "rotate")
    fresh = deployment.client("alice-after-rotation")
    deployment.issue(fresh, "alice", ("pwd", "mfa"))
    assert _signing_ca(fresh) != old_signer
    assert _signing_ca(fresh) == rotated["fingerprint"]
    # The gateway re-reads trusted CA keys from the store at most a second late.
    assert wait_until(
        lambda: fresh.ssh(deployment.service, "echo new").stdout == b"new\n", 15, interval=0.5
    )
    assert alice.ssh(deployment.service, "echo old").stdout == b"old\n"


def _signing_ca(client: Client) -> str:
    listing = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(client.cert)], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        if line.strip().startswith("Signing CA:"):
            return next(word for word in line.split() if word.startswith("SHA256:"))
    raise AssertionError(listing)


# --- SIGTERM ------------------------------------------------------------------------------------


def test_sigterm_drains_open_sessions_and_refuses_new_connections(
    deployment: Deployment, alice: Client
) -> None:
    # A second gateway on the same store and keys, so the module's own keeps running.
    port = free_port()
    gateway = Server(
        deployment.config,
        {
            "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_GATEWAY_DRAIN_TIMEOUT": str(DRAIN_TIMEOUT),
        },
        role="gateway",
    )
    gateway.start()
    try:
        client = Client(
            "alice-drain",
            deployment.root / "clients" / "alice-drain",
            port,
            deployment.gateway_host_key(),
        )
        deployment.issue(client, "alice", ("pwd", "mfa"))
        short = open_session(client, deployment.service, "sleep 1; echo finished")
        long = open_session(client, deployment.service, "sleep 120; echo not-reached")
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert wait_until(lambda: log_count(gateway, "draining") == 1, 20)

        refused = client.ssh(deployment.service, "echo in")
        assert refused.returncode == 255 and b"Connection refused" in refused.stderr

        out, err = short.communicate(timeout=60)
        assert short.returncode == 0 and out == b"finished\n", err
        out, err = long.communicate(timeout=60)
        drained_after = time.monotonic() - signalled
        assert long.returncode == 255
        assert out == b"" and err == DRAINING
        assert DRAIN_TIMEOUT - 0.5 <= drained_after <= DRAIN_TIMEOUT + 30
        assert gateway.process.wait(timeout=30) == 0
        assert log_count(gateway, "stopped") == 1
    finally:
        gateway.stop()
