"""Forwarding and the rest of an OpenSSH session through the gateway, with the stock clients:
ssh -L/-W, agent forwarding, the environment allow-list, exit signals, rsync, ControlMaster,
keepalives, and what a user sees when the environment is down or shows a wrong host key."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshgate.ca.issuer import Permissions
from sshgate.demo.sshd import EnvironmentServer, free_port
from tests.e2e.conftest import PASSWORD, Deployment
from tests.support.deployment import (
    Client,
    ControlMaster,
    EchoServer,
    issue_certificate,
    log_count,
    set_environment_host_keys,
    ssh_with,
    upstream_logins,
    wait_until,
)

NOT_LOOPBACK = "sshgate: port forwarding only reaches the environment itself"
_SPARE_NAMES = (f"spare{n}" for n in itertools.count(1))


@pytest.fixture
def dave(deployment: Deployment) -> Client:
    """A contributor with MFA whose certificate lacks permit-port-forwarding and
    permit-agent-forwarding (ca.permit_* = false)."""
    if "dave" not in deployment.users:
        created = deployment.admin(
            "user",
            "add",
            "dave",
            "--email",
            "dave@example.com",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        deployment.users["dave"] = str(created["id"])
        deployment.admin("org", "member", "acme", "dave", "--role", "member")
        deployment.admin("project", "grant", deployment.project, "dave", "--role", "contributor")
        deployment.enable_mfa("dave")
    client = deployment.client("dave")
    issue_certificate(
        deployment.root / "data",
        client,
        "dave",
        ("pwd", "mfa"),
        Permissions(port_forwarding=False, agent_forwarding=False),
    )
    return client


def audit_items(d: Deployment) -> list[dict[str, object]]:
    items = d.admin("audit", "--since", "10m")["items"]
    assert isinstance(items, list)
    return items


def audited(d: Deployment, kind: str, reason: str, user: str) -> bool:
    return any(
        r["kind"] == kind and r["reason"] == reason and r["user_id"] == d.users[user]
        for r in audit_items(d)
    )


# --- local port forwarding ----------------------------------------------------------------


def test_local_port_forward_carries_a_large_stream_both_ways(
    deployment: Deployment, alice: Client, echo: EchoServer
) -> None:
    local = free_port()
    tunnel = subprocess.Popen(
        [
            "ssh",
            "-F",
            str(alice.config),
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"127.0.0.1:{local}:127.0.0.1:{echo.port}",
            f"{deployment.service}@gw",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        payload = os.urandom(4_000_000)

        def round_trip() -> bytes:
            with socket.create_connection(("127.0.0.1", local), timeout=30) as sock:
                sock.sendall(payload[:10])
                sock.shutdown(socket.SHUT_WR)
                return _read_all(sock)

        assert wait_until(lambda: _quietly(round_trip) == payload[:10], 30)
        # 4 MB is many times the SSH windows on both hops: only flow control both ways
        # gets all of it through in order while the reader is slower than the writer.
        with socket.create_connection(("127.0.0.1", local), timeout=60) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            echoed = _read_all(sock)
        assert hashlib.sha256(echoed).hexdigest() == hashlib.sha256(payload).hexdigest()
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=20)
    assert wait_until(lambda: audited(deployment, "port-forward", "allow", "alice"), 10)


def test_stdio_forward_reaches_localhost_names_of_the_environment(
    deployment: Deployment, alice: Client, echo: EchoServer
) -> None:
    for destination in ("localhost", "127.0.0.1"):
        result = ssh_with(
            alice,
            deployment.service,
            options=("-W", f"{destination}:{echo.port}"),
            stdin=b"hello through " + destination.encode(),
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"hello through " + destination.encode()


@pytest.mark.parametrize("destination", ["10.255.0.1", "127.0.0.2", "example.com"])
def test_forward_to_anything_but_the_environment_loopback_is_refused(
    deployment: Deployment, alice: Client, echo: EchoServer, destination: str
) -> None:
    accepted = echo.accepted
    result = ssh_with(alice, deployment.service, options=("-W", f"{destination}:{echo.port}"))
    assert result.returncode == 255
    stderr = result.stderr.decode()
    assert "administratively prohibited" in stderr and NOT_LOOPBACK in stderr, stderr
    assert echo.accepted == accepted
    records = [r for r in audit_items(deployment) if r["kind"] == "port-forward"]
    assert any(
        r["reason"] == "port-forward-destination" and r["decision"] == "deny" for r in records
    )


def test_forward_on_the_git_route_is_refused(
    deployment: Deployment, alice: Client, echo: EchoServer
) -> None:
    result = ssh_with(alice, deployment.project, options=("-W", f"127.0.0.1:{echo.port}"))
    assert result.returncode == 255
    assert "port forwarding is only available to environment services" in result.stderr.decode()
    assert audited(deployment, "port-forward", "port-forward-not-an-environment", "alice")


def test_forward_without_permit_port_forwarding_is_refused(
    deployment: Deployment, dave: Client, echo: EchoServer
) -> None:
    assert dave.ssh(deployment.service, "true").returncode == 0
    result = ssh_with(dave, deployment.service, options=("-W", f"127.0.0.1:{echo.port}"))
    assert result.returncode == 255
    assert "sshgate: port forwarding is not permitted" in result.stderr.decode()
    assert audited(deployment, "port-forward", "port-forwarding-not-permitted", "dave")


def test_forward_by_a_user_without_mfa_gets_the_mfa_refusal(
    deployment: Deployment, bob: Client, echo: EchoServer
) -> None:
    result = ssh_with(bob, deployment.service, options=("-W", f"127.0.0.1:{echo.port}"))
    assert result.returncode == 255
    stderr = result.stderr.decode()
    assert "Error: Access denied" in stderr and "Multifactor authentication (MFA)" in stderr
    assert audited(deployment, "port-forward", "mfa-required", "bob")


# --- agent forwarding ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An ssh-agent holding one key: (socket path, the key's SHA256 fingerprint)."""
    home = Path(tempfile.mkdtemp(prefix="sga-", dir="/tmp"))  # short: a socket path
    sock = home / "agent.sock"
    process = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_until(sock.exists, 10)
        key = tmp_path_factory.mktemp("agentkey") / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
        fp = subprocess.run(
            ["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        yield str(sock), fp
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def test_forwarded_agent_is_usable_in_the_environment(
    deployment: Deployment, alice: Client, agent: tuple[str, str]
) -> None:
    sock, fingerprint = agent
    result = ssh_with(alice, deployment.service, "ssh-add -l", options=_forward_agent(sock))
    assert result.returncode == 0, result.stderr
    assert fingerprint in result.stdout.decode()
    # The gateway logs in with its own upstream certificate only, never with agent keys.
    accepted = [line for line in deployment.env.log().splitlines() if "Accepted publickey" in line]
    assert accepted and all("ED25519-CERT" in line for line in accepted)
    assert not any(fingerprint in line for line in accepted)
    assert audited(deployment, "agent-forward", "allow", "alice")


def test_no_agent_in_the_environment_without_forwarding(
    deployment: Deployment, alice: Client
) -> None:
    result = alice.ssh(deployment.service, 'ssh-add -l; echo "sock=${SSH_AUTH_SOCK:-none}"')
    assert result.stdout.decode().strip().endswith("sock=none"), result.stdout


def test_agent_forwarding_without_permit_agent_forwarding_is_refused_with_a_line(
    deployment: Deployment, dave: Client, agent: tuple[str, str]
) -> None:
    sock, _ = agent
    result = ssh_with(
        dave,
        deployment.service,
        'echo "sock=${SSH_AUTH_SOCK:-none}"',
        options=_forward_agent(sock),
    )
    assert result.returncode == 0
    assert result.stdout == b"sock=none\n"
    assert result.stderr == b"sshgate: agent forwarding is not permitted\n"
    assert audited(deployment, "agent-forward", "agent-forwarding-not-permitted", "dave")


def test_multiplexed_session_without_agent_does_not_share_the_agent_connection(
    deployment: Deployment, alice: Client, agent: tuple[str, str]
) -> None:
    sock, fingerprint = agent
    logins = upstream_logins(deployment.env)
    # The master forwards the agent for its own session; each multiplexed session says
    # whether it wants it (OpenSSH's mux protocol carries the flag per session).
    with ControlMaster(alice, deployment.service, _forward_agent(sock)) as mux:
        with_agent = ssh_with(alice, deployment.service, "ssh-add -l", options=(*mux, "-A"))
        assert with_agent.returncode == 0, with_agent.stderr
        assert fingerprint in with_agent.stdout.decode()
        without = ssh_with(
            alice,
            deployment.service,
            'echo "sock=${SSH_AUTH_SOCK:-none}"',
            options=(*mux, "-o", "ForwardAgent=no"),
        )
        assert without.stdout == b"sock=none\n", without
    # Each session that forwards the agent has an upstream connection of its own (the
    # master's and the -A session's), and the one without gets a fresh login or the same
    # user's parked one (which never forwards).
    assert logins + 2 <= upstream_logins(deployment.env) <= logins + 3


def _agent_lists(environment_sock: str) -> bool:
    """Whether a process in the environment (here: on this host, with the socket path the
    environment's sshd gave the session) can list the forwarded agent's keys."""
    listed = subprocess.run(
        ["ssh-add", "-l"],
        env={**os.environ, "SSH_AUTH_SOCK": environment_sock},
        capture_output=True,
        timeout=30,
    )
    return listed.returncode == 0


def test_a_forwarded_agent_goes_when_its_session_ends_though_the_connection_stays(
    deployment: Deployment, alice: Client, agent: tuple[str, str]
) -> None:
    sock, _ = agent
    with ControlMaster(alice, deployment.service, _forward_agent(sock)) as mux:
        first = ssh_with(alice, deployment.service, 'echo "$SSH_AUTH_SOCK"', options=(*mux, "-A"))
        assert first.returncode == 0, first.stderr
        left_behind = first.stdout.decode().strip()
        assert left_behind
        # The client connection (the master) is still there; the session is not.
        assert wait_until(lambda: not _agent_lists(left_behind), 10), (
            "the agent outlived its session"
        )


def test_a_forwarded_agent_stops_with_the_policy(
    deployment: Deployment, bob: Client, agent: tuple[str, str]
) -> None:
    """A process left in the environment loses the agent once the session that forwarded it
    is closed by the live policy, though the client's connection (a ControlMaster) stays."""
    d = deployment
    sock, _ = agent
    with ControlMaster(bob, d.open_service, _forward_agent(sock)) as mux:
        ssh, *rest = bob.ssh_command(d.open_service)
        session = subprocess.Popen(
            [ssh, *mux, "-A", *rest, 'echo "$SSH_AUTH_SOCK"; exec sleep 600'],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert session.stdout is not None
            left_behind = session.stdout.readline().decode().strip()
            assert left_behind and _agent_lists(left_behind)
            d.admin("org", "mfa-required", "opensrc", "on")
            session.wait(timeout=15)
            assert session.returncode == 1
            gone = wait_until(lambda: not _agent_lists(left_behind), 5)
            assert gone, "the agent outlived the policy"
        finally:
            d.admin("org", "mfa-required", "opensrc", "off")
            if session.poll() is None:
                session.kill()
                session.wait()


# --- environment variables, signals, rsync -------------------------------------------------


def test_environment_allow_list_passes_git_protocol_and_lang_only(
    deployment: Deployment, alice: Client
) -> None:
    result = ssh_with(
        alice,
        deployment.service,
        'echo "$LANG|$GIT_PROTOCOL|${LC_PAPER-unset}|${LD_PRELOAD-unset}"',
        options=(
            "-o",
            "SetEnv=LANG=fr_FR.UTF-8 GIT_PROTOCOL=version=2 LC_PAPER=de_DE LD_PRELOAD=/x.so",
        ),
    )
    assert result.returncode == 0, result.stderr
    # LC_PAPER is accepted by the environment's sshd (AcceptEnv LC_*) but not on the
    # gateway's allow-list: the gateway is what filtered it.
    assert result.stdout == b"fr_FR.UTF-8|version=2|unset|unset\n"


def test_exit_signal_reaches_the_client_as_openssh_reports_it(
    deployment: Deployment, alice: Client
) -> None:
    # Checked against sshd directly: OpenSSH exits 255 on an exit-signal and prints nothing.
    result = ssh_with(alice, deployment.service, "kill -KILL $$", options=("-v",))
    assert result.returncode == 255
    stderr = result.stderr.decode()
    assert "rtype exit-signal" in stderr, stderr
    assert "sshgate:" not in stderr
    quiet = alice.ssh(deployment.service, "kill -TERM $$")
    assert quiet.returncode == 255 and quiet.stderr == b""


def test_exit_status_survives_output_that_ends_before_the_command(
    deployment: Deployment, alice: Client
) -> None:
    # The environment's EOF comes a second before its exit status. An OpenSSH
    # ControlMaster closes a multiplexed session's channel once it has seen EOF both ways,
    # so an EOF passed on early would lose the status (ssh then exits 255; through sshd
    # directly it is 3).
    command = "echo out; exec >&- 2>&-; sleep 1; exit 3"
    assert alice.ssh(deployment.service, command).returncode == 3
    with ControlMaster(alice, deployment.service) as mux:
        result = ssh_with(alice, deployment.service, command, options=mux)
    assert (result.returncode, result.stdout) == (3, b"out\n"), result.stderr


def test_rsync_both_ways_keeps_the_bytes(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("rsync not installed (.ci/run installs it)")
    source = tmp_path / "src"
    (source / "nested").mkdir(parents=True)
    for index, size in enumerate((0, 1, 70_000, 3_000_000)):
        (source / "nested" / f"f{index}.bin").write_bytes(os.urandom(size))
    remote = f"/tmp/sshgate-rsync-{os.getpid()}"
    back = tmp_path / "back"
    shell = f"ssh -F {alice.config}"
    try:
        for src, dst in (
            (f"{source}/", f"{deployment.service}@gw:{remote}/"),
            (f"{deployment.service}@gw:{remote}/", f"{back}/"),
        ):
            result = subprocess.run(
                ["rsync", "-a", "--checksum", "-e", shell, src, dst],
                capture_output=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
        assert _digests(back) == _digests(source)
        assert _digests(Path(remote)) == _digests(source)
    finally:
        shutil.rmtree(remote, ignore_errors=True)


# --- one client connection, several sessions ------------------------------------------------


def test_control_master_runs_several_sessions_over_one_connection(
    deployment: Deployment, alice: Client
) -> None:
    logins_before = upstream_logins(deployment.env)
    auth_before = log_count(deployment.server, "authenticated")
    with ControlMaster(alice, deployment.service) as mux:
        assert log_count(deployment.server, "authenticated") == auth_before + 1
        processes = [
            subprocess.Popen(
                [
                    "ssh",
                    "-F",
                    str(alice.config),
                    "-T",
                    *mux,
                    f"{deployment.service}@gw",
                    f"echo session-{n}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(4)
        ]
        for n, process in enumerate(processes):
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            assert out == f"session-{n}\n".encode()
        assert log_count(deployment.server, "authenticated") == auth_before + 1
    # Five sessions (the master's own and four multiplexed) shared one upstream login (a
    # fresh one, or alice's parked one from an earlier connection).
    assert upstream_logins(deployment.env) <= logins_before + 1


def test_client_keepalives_are_answered(deployment: Deployment, alice: Client) -> None:
    # With ServerAliveCountMax=1 the client gives up after ~2 s of unanswered probes.
    started = time.monotonic()
    result = ssh_with(
        alice,
        deployment.service,
        "sleep 5; echo still-here",
        options=("-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=1"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"still-here\n"
    assert time.monotonic() - started >= 5


# --- when the environment is down or not what it was ---------------------------------------


@pytest.fixture
def spare(deployment: Deployment, tmp_path: Path) -> Iterator[tuple[EnvironmentServer, str, str]]:
    """A second environment of the project, with its own sshd: (server, env name, service)."""
    name = next(_SPARE_NAMES)
    trusted = deployment.root / "data" / "upstream_ca.pub"
    env = EnvironmentServer(tmp_path / "spare", trusted_user_ca=trusted)
    env.start()
    try:
        created = deployment.admin(
            "env",
            "add",
            deployment.project,
            name,
            "--upstream",
            env.upstream,
            "--host-key-file",
            str(env.host_key_pub),
        )
        yield env, name, str(created["service"])
    finally:
        env.stop()


def _one_sshgate_line(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 255, result
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and stderr.startswith("sshgate: "), stderr
    return stderr


def test_stopped_environment_gives_one_line_and_255(
    deployment: Deployment,
    alice: Client,
    spare: tuple[EnvironmentServer, str, str],
    echo: EchoServer,
) -> None:
    env, _, service = spare
    assert alice.ssh(service, "true").returncode == 0
    env.stop()
    line = _one_sshgate_line(alice.ssh(service, "true"))
    assert "unreachable" in line
    forward = ssh_with(alice, service, options=("-W", f"127.0.0.1:{echo.port}"))
    assert forward.returncode == 255 and b"unreachable" in forward.stderr


def test_changed_host_key_is_refused_until_the_operator_pins_it(
    deployment: Deployment, alice: Client, spare: tuple[EnvironmentServer, str, str]
) -> None:
    env, name, service = spare
    assert alice.ssh(service, "true").returncode == 0
    env.stop()
    env.host_key.unlink()
    env.host_key_pub.unlink()
    env.start()  # same port, a freshly generated host key
    logins = upstream_logins(env)
    line = _one_sshgate_line(alice.ssh(service, "true"))
    assert "host key does not match" in line
    assert upstream_logins(env) == logins  # the gateway looked at the key and went no further
    deployment.admin(
        "env", "host-key", deployment.project, name, "--host-key-file", str(env.host_key_pub)
    )
    result = alice.ssh(service, "echo pinned")
    assert result.returncode == 0 and result.stdout == b"pinned\n", result.stderr


def test_environment_without_a_known_host_key_is_never_connected_to(
    deployment: Deployment, alice: Client, spare: tuple[EnvironmentServer, str, str]
) -> None:
    env, name, service = spare
    set_environment_host_keys(deployment.root / "data", deployment.project, name, ())
    connections = env.log().count("Connection from")
    line = _one_sshgate_line(alice.ssh(service, "true"))
    assert "no known host key" in line
    assert env.log().count("Connection from") == connections


# --- helpers ----------------------------------------------------------------------------------


def _forward_agent(sock: str) -> tuple[str, ...]:
    # The clients' ssh_config says `IdentityAgent none`, with which OpenSSH forwards nothing.
    return ("-o", f"IdentityAgent={sock}", "-o", "ForwardAgent=yes")


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _quietly(action: object) -> object:
    try:
        return action()  # type: ignore[operator]
    except OSError:
        return None


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
