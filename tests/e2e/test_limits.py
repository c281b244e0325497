"""The gateway's connection limits with the stock OpenSSH client: login_timeout,
max_auth_attempts, max_unauthenticated, max_per_source (several loopback source addresses
with `ssh -b`), idle_timeout, and the keepalives that let go of a vanished client."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import (
    Client,
    EchoServer,
    log_count,
    raw_connection,
    seconds_until_closed,
    ssh_with,
    wait_until,
)

LOGIN_TIMEOUT = 8
IDLE_TIMEOUT = 3


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(
        tmp_path_factory.mktemp("limits"),
        {
            "SSHGATE_GATEWAY_LOGIN_TIMEOUT": str(LOGIN_TIMEOUT),
            "SSHGATE_GATEWAY_MAX_AUTH_ATTEMPTS": "2",
            "SSHGATE_GATEWAY_MAX_UNAUTHENTICATED": "4",
            "SSHGATE_GATEWAY_MAX_PER_SOURCE": "2",
            "SSHGATE_GATEWAY_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
        },
    )
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def from_address(client: Client, service: str, source: str) -> subprocess.CompletedProcess[bytes]:
    return ssh_with(client, service, "echo in", options=("-b", source))


def refused_by(
    d: Deployment, limit: str, before: int, result: subprocess.CompletedProcess[bytes]
) -> bool:
    """The connection was closed by `limit` (the gateway says so in its log). The client
    usually prints the reason too, but a client still writing its key exchange when the
    gateway hangs up may see a reset instead, so the client side is only checked for
    having got nowhere."""
    return (
        result.returncode == 255
        and result.stdout == b""
        and log_count(d.server, "connection_closed", f"reason={limit}") == before + 1
    )


# --- unauthenticated connections ------------------------------------------------------------


def test_max_per_source_refuses_one_more_unauthenticated_connection_from_that_address(
    deployment: Deployment, alice: Client
) -> None:
    held = [raw_connection(deployment.gateway_port, "127.0.0.2") for _ in range(2)]
    before = log_count(deployment.server, "connection_closed", "reason=max-per-source")
    try:
        refused = from_address(alice, deployment.service, "127.0.0.2")
        assert wait_until(lambda: refused_by(deployment, "max-per-source", before, refused), 5)
        other = from_address(alice, deployment.service, "127.0.0.3")
        assert other.returncode == 0 and other.stdout == b"in\n", other.stderr
    finally:
        for sock in held:
            sock.close()
    assert wait_until(
        lambda: from_address(alice, deployment.service, "127.0.0.2").returncode == 0, 20
    )


def test_max_unauthenticated_refuses_beyond_the_total_from_any_address(
    deployment: Deployment, alice: Client
) -> None:
    held = [raw_connection(deployment.gateway_port, source) for source in ("127.0.0.4",) * 2]
    held += [raw_connection(deployment.gateway_port, source) for source in ("127.0.0.5",) * 2]
    before = log_count(deployment.server, "connection_closed", "reason=max-unauthenticated")
    try:
        refused = from_address(alice, deployment.service, "127.0.0.6")
        assert wait_until(lambda: refused_by(deployment, "max-unauthenticated", before, refused), 5)
        held.pop().close()
        assert wait_until(
            lambda: from_address(alice, deployment.service, "127.0.0.6").returncode == 0, 20
        )
    finally:
        for sock in held:
            sock.close()


def test_login_timeout_closes_a_connection_that_never_authenticates(
    deployment: Deployment,
) -> None:
    sock = raw_connection(deployment.gateway_port, "127.0.0.7")
    try:
        elapsed = seconds_until_closed(sock, timeout=LOGIN_TIMEOUT + 60)
    finally:
        sock.close()
    # Generous upper margin for a loaded machine; the lower one shows it is the timeout.
    assert LOGIN_TIMEOUT - 1 <= elapsed <= LOGIN_TIMEOUT + 20


def test_max_auth_attempts_closes_the_connection_after_that_many_refused_keys(
    deployment: Deployment, tmp_path: Path
) -> None:
    mallory = deployment.client("mallory")  # plain keys only, no certificate
    extra = []
    for n in range(2):
        key = tmp_path / f"plain{n}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        extra.append(f"-i{key}")
    one = ssh_with(mallory, deployment.service, "echo in")
    assert one.returncode == 255
    assert b"Permission denied (publickey)" in one.stderr, one.stderr
    assert b"too many authentication failures" not in one.stderr
    three = ssh_with(mallory, deployment.service, "echo in", options=tuple(extra))
    assert three.returncode == 255
    assert b"too many authentication failures" in three.stderr, three.stderr
    assert b"Permission denied" not in three.stderr  # closed before the client gave up


# --- idle sessions and connections ------------------------------------------------------------


def test_idle_session_is_closed_with_one_line(deployment: Deployment, alice: Client) -> None:
    started = time.monotonic()
    result = alice.ssh(deployment.service, "sleep 120")
    elapsed = time.monotonic() - started
    assert result.returncode == 255
    assert (
        result.stderr
        == (
            f"sshgate: closing this session after {IDLE_TIMEOUT} seconds without traffic\n"
        ).encode()
    )
    assert IDLE_TIMEOUT - 0.5 <= elapsed <= IDLE_TIMEOUT + 30


def test_session_with_traffic_is_not_idle(deployment: Deployment, alice: Client) -> None:
    result = alice.ssh(deployment.service, "for i in 1 2 3 4 5 6; do echo $i; sleep 1; done")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"1\n2\n3\n4\n5\n6\n"


def test_connection_without_a_session_is_closed_when_idle(
    deployment: Deployment, alice: Client
) -> None:
    started = time.monotonic()
    result = ssh_with(alice, deployment.service, options=("-N",), timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 255
    assert b"closing this connection after 3 seconds without a session" in result.stderr
    assert IDLE_TIMEOUT - 0.5 <= elapsed <= IDLE_TIMEOUT + 30


def test_forward_with_traffic_outlives_the_idle_timeout_and_an_idle_one_is_closed(
    deployment: Deployment, alice: Client
) -> None:
    echo = EchoServer()
    idle_before = log_count(deployment.server, "session_idle")
    forward = subprocess.Popen(
        [
            "ssh",
            "-F",
            str(alice.config),
            "-W",
            f"127.0.0.1:{echo.port}",
            f"{deployment.service}@gw",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert forward.stdin is not None and forward.stdout is not None
        for n in range(2 * IDLE_TIMEOUT):  # twice the idle timeout, a line a second
            forward.stdin.write(f"line {n}\n".encode())
            forward.stdin.flush()
            assert forward.stdout.readline() == f"line {n}\n".encode()
            time.sleep(1)
        assert forward.poll() is None
        quiet_since = time.monotonic()
        forward.wait(timeout=60)
        assert time.monotonic() - quiet_since >= IDLE_TIMEOUT - 1
        assert log_count(deployment.server, "session_idle") == idle_before + 1
    finally:
        forward.kill()
        forward.wait(timeout=10)
        echo.close()


def test_gateway_keepalives_let_go_of_a_client_that_vanished(
    deployment: Deployment, alice: Client
) -> None:
    # The session has traffic (so it is never idle), but the client stops answering: only
    # the gateway's keepalive probes can notice.
    ended = log_count(deployment.server, "session_end")
    client = subprocess.Popen(
        alice.ssh_command(deployment.service, "while :; do echo tick; sleep 0.5; done"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == b"tick\n"
        os.kill(client.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        assert wait_until(lambda: log_count(deployment.server, "session_end") > ended, 60)
        assert time.monotonic() - stopped >= IDLE_TIMEOUT - 0.5
    finally:
        os.kill(client.pid, signal.SIGCONT)
        client.kill()
        client.wait(timeout=10)
