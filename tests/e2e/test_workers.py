"""`sshgate serve` with `gateway.workers = 2`: a worker process beside the main one, both
listening on the gateway port (SO_REUSEPORT). Connections land on either and behave the
same; /metrics on the main process adds up both; live policy reaches sessions in both; a
killed worker is restarted; SIGTERM stops every process, and so does the main process's
death for its workers.

Which process handled a connection: a worker's log lines carry `worker=1`. The last test runs
the same on PostgreSQL, where every process also listens for policy changes (NOTIFY)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.support.deployment import (
    Client,
    Server,
    log_count,
    open_session,
    raw_connection,
    wait_until,
)
from tests.support.fleet import Ports, certify, readyz, token_for
from tests.support.postgres import PostgresCluster

WORKERS = {"SSHGATE_GATEWAY_WORKERS": "2"}
CONNECTIONS = 30
PARALLEL = 6
DRAIN_TIMEOUT = 2
DEADLINE = 60.0  # a loaded 2-core machine
CLOSE_DEADLINE = 10.0 + 5.0  # the README's 10 seconds, and a margin
DRAINING = b"sshgate: the gateway is restarting; reconnect\n"
MFA_LINES = (b"Error: Access denied\n", b"\t - Multifactor authentication (MFA)\n")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("workers"), WORKERS)
    try:
        yield d
    finally:
        stop_all(d.server)
        d.env.stop()


@contextlib.contextmanager
def serving(d: Deployment, extra: dict[str, str] | None = None) -> Iterator[Server]:
    """Another `sshgate serve --role gateway` with two gateway processes on the module's
    data dir, on ports of its own; it and its workers are stopped however the test ends."""
    ports = Ports.free()
    server = Server(
        d.config,
        {
            **ports.overrides(),
            **WORKERS,
            "SSHGATE_GATEWAY_DRAIN_TIMEOUT": str(DRAIN_TIMEOUT),
            **(extra or {}),
        },
        role="gateway",
    )
    try:
        server.start(timeout=DEADLINE)
        yield server
    finally:
        stop_all(server)


def stop_all(server: Server) -> None:
    server.stop()
    for pid in worker_pids(server).values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- what the processes show -------------------------------------------------------------


def gateway_port(server: Server) -> int:
    return int(server.env["SSHGATE_GATEWAY_LISTEN"].rsplit(":", 1)[1])


def metrics_port(server: Server) -> int:
    return int(server.env["SSHGATE_METRICS_LISTEN"].rsplit(":", 1)[1])


def main_pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


def worker_pids(server: Server) -> dict[int, int]:
    """Worker index -> pid of its latest process, from the main process's log."""
    found: dict[int, int] = {}
    for line in server.lines:
        match = re.search(r" event=worker_ready worker=(\d+) pid=(\d+)", line)
        if match:
            found[int(match.group(1))] = int(match.group(2))
    return found


def listening_pids(port: int, candidates: list[int]) -> set[int]:
    """Which of `candidates` hold a socket listening on TCP `port` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    holders = set()
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        holders.add(pid)
    return holders


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


def per_process(server: Server, event: str, *fields: str) -> tuple[int, int]:
    """How many `event` lines (with `fields`) the main process and the worker logged."""
    total = log_count(server, event, *fields)
    worker = log_count(server, event, *fields, "worker=1")
    return total - worker, worker


# --- the tests ---------------------------------------------------------------------------


def test_the_main_process_and_one_worker_listen_on_the_gateway_port(
    deployment: Deployment,
) -> None:
    server = deployment.server
    workers = worker_pids(server)
    assert list(workers) == [1]
    assert log_count(server, "ready", "workers=2") == 1
    candidates = [main_pid(server), workers[1]]
    assert listening_pids(deployment.gateway_port, candidates) == set(candidates)
    assert readyz(deployment.metrics_port) == 200


def test_many_connections_all_succeed_through_both_processes_and_metrics_count_both(
    deployment: Deployment, alice: Client
) -> None:
    server = deployment.server
    before = per_process(server, "authenticated", "user=alice")
    connections_before = metric(deployment.metrics_port, "sshgate_gateway_connections_total")

    def connect(n: int) -> subprocess.CompletedProcess[bytes]:
        return alice.ssh(deployment.service, f"echo hello-{n}")

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(connect, range(CONNECTIONS)))
    for n, result in enumerate(results):
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"hello-{n}\n".encode()
    assert wait_until(
        lambda: (
            sum(per_process(server, "authenticated", "user=alice")) - sum(before) == CONNECTIONS
        ),
        30,
    ), server.log()
    after = per_process(server, "authenticated", "user=alice")
    by_main, by_worker = after[0] - before[0], after[1] - before[1]
    assert by_main > 0 and by_worker > 0, (by_main, by_worker)
    # Neither process alone accepted them all: the main process's /metrics adds up both.
    counted = metric(deployment.metrics_port, "sshgate_gateway_connections_total")
    assert counted - connections_before >= CONNECTIONS


def test_a_certificate_without_mfa_is_refused_with_the_documented_message_by_both(
    deployment: Deployment, bob: Client
) -> None:
    server = deployment.server
    fields = ("decision=deny", "rule=mfa-required")
    before = per_process(server, "decision", *fields)
    for refused in range(1, 41):
        result = bob.ssh(deployment.service, "true")
        assert result.returncode == 1, result.stderr
        for line in MFA_LINES:
            assert line in result.stderr
        expected = sum(before) + refused
        assert wait_until(lambda n=expected: log_count(server, "decision", *fields) == n, 30)
        now = per_process(server, "decision", *fields)
        if now[0] > before[0] and now[1] > before[1]:
            break
    else:
        raise AssertionError("every refusal came from one process")


def test_sighup_reloads_the_main_process_and_the_worker(deployment: Deployment) -> None:
    server = deployment.server
    before = per_process(server, "reloaded")
    assert server.process is not None
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(
        lambda: all(a > b for a, b in zip(per_process(server, "reloaded"), before, strict=True)),
        30,
    ), server.log()


def test_switching_mfa_on_counts_and_closes_sessions_in_both_processes(
    deployment: Deployment, bob: Client
) -> None:
    d = deployment
    sessions: list[subprocess.Popen[bytes]] = []
    try:
        open_in_both(d.server, bob, "bob", d.open_service, sessions)
        # Each process's gauge, added up by the main process (livesum).
        assert wait_until(
            lambda: metric(d.metrics_port, "sshgate_gateway_active_sessions") == len(sessions), 20
        )
        switched = d.admin("org", "mfa-required", "opensrc", "on")
        assert switched["sessions_to_close"] == len(sessions)
        assert_closed_with_the_mfa_message(sessions)
    finally:
        d.admin("org", "mfa-required", "opensrc", "off")
        end_sessions(sessions)


def assert_closed_with_the_mfa_message(sessions: list[subprocess.Popen[bytes]]) -> None:
    for session in sessions:
        session.wait(timeout=CLOSE_DEADLINE)
        assert session.returncode == 1
        assert session.stderr is not None
        err = session.stderr.read()
        for line in MFA_LINES:
            assert line in err


def end_sessions(sessions: list[subprocess.Popen[bytes]]) -> None:
    for session in sessions:
        if session.poll() is None:
            session.kill()
            session.wait()


def open_in_both(
    server: Server, client: Client, user: str, service: str, sessions: list[subprocess.Popen[bytes]]
) -> None:
    """Open sessions (into `sessions`) as `user` until both processes relay at least one."""
    while len(sessions) < 16:
        seen = log_count(server, "authenticated", f"user={user}")
        sessions.append(open_session(client, service, "sleep 300"))
        assert wait_until(lambda n=seen: log_count(server, "authenticated", f"user={user}") > n, 30)
        if both_processes_among_latest(server, user, len(sessions)):
            return
    raise AssertionError("every session landed in one process")


def both_processes_among_latest(server: Server, user: str, count: int) -> bool:
    """Whether, of `user`'s `count` latest authentications, both processes had some."""
    lines = [line for line in server.lines if " event=authenticated " in line]
    latest = [line for line in lines if f" user={user} " in line][-count:]
    return any(" worker=1" in line for line in latest) and any(
        " worker=1" not in line for line in latest
    )


def test_a_killed_worker_is_restarted_and_connections_keep_working(
    deployment: Deployment, alice: Client
) -> None:
    d = deployment
    old = worker_pids(d.server)[1]
    counted = metric(d.metrics_port, "sshgate_gateway_connections_total")
    os.kill(old, signal.SIGKILL)
    assert wait_until(lambda: readyz(d.metrics_port) == 503, DEADLINE, interval=0.05)
    assert wait_until(lambda: worker_pids(d.server)[1] != old, DEADLINE), d.server.log()
    assert log_count(d.server, "worker_exited", "worker=1", f"pid={old}", "status=-9") == 1
    assert log_count(d.server, "readiness", "state=not-ready", "reason=worker-not-running") >= 1
    assert wait_until(lambda: readyz(d.metrics_port) == 200, DEADLINE)
    new = worker_pids(d.server)[1]
    candidates = [main_pid(d.server), new]
    assert listening_pids(d.gateway_port, candidates) == set(candidates)
    for n in range(10):
        result = alice.ssh(d.service, f"echo again-{n}")
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"again-{n}\n".encode()
    # What the killed worker counted still counts.
    assert metric(d.metrics_port, "sshgate_gateway_connections_total") >= counted + 10


def refused_and_held(
    server: Server, limit: str, socks: list[socket.socket], refused: int
) -> tuple[int, int]:
    """Once `refused` connections were closed for `limit` (and their sockets saw it), how
    many the gateway logged as refused for it, and how many of `socks` it still holds."""
    assert wait_until(
        lambda: log_count(server, "connection_closed", f"reason={limit}") >= refused, 30
    ), server.log()
    assert wait_until(lambda: sum(map(closed_by_peer, socks)) >= refused, 30)
    return (
        log_count(server, "connection_closed", f"reason={limit}"),
        sum(not closed_by_peer(sock) for sock in socks),
    )


@contextlib.contextmanager
def strangers(port: int, sources: list[str]) -> Iterator[list[socket.socket]]:
    """Connections that never authenticate, one from each of `sources`, closed at the end."""
    socks: list[socket.socket] = []
    try:
        socks += [raw_connection(port, source=source) for source in sources]
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_peer(sock: socket.socket) -> bool:
    """The gateway closed `sock` (its disconnect message, if any, is read and dropped)."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_max_unauthenticated_holds_across_processes(deployment: Deployment) -> None:
    with serving(deployment, {"SSHGATE_GATEWAY_MAX_UNAUTHENTICATED": "5"}) as server:
        port = gateway_port(server)
        # Ten strangers from ten addresses, spread over both processes by the kernel. Before
        # the table was shared, each process held ceil(5 / 2) = 3: 6 in all.
        with strangers(port, [f"127.0.0.{10 + n}" for n in range(10)]) as socks:
            assert refused_and_held(server, "max-unauthenticated", socks, 5) == (5, 5)


def test_one_address_cannot_hold_more_than_max_per_source_across_processes(
    deployment: Deployment,
) -> None:
    with serving(deployment, {"SSHGATE_GATEWAY_MAX_PER_SOURCE": "3"}) as server:
        port = gateway_port(server)
        with strangers(port, ["127.0.0.60"] * 10) as socks:
            # Before the table was shared, each process held ceil(3 / 2) = 2: 4 in all.
            assert refused_and_held(server, "max-per-source", socks, 7) == (7, 3)


def test_connections_awaiting_their_proxy_header_count_against_max_unauthenticated(
    deployment: Deployment,
) -> None:
    behind_a_balancer = {
        "SSHGATE_GATEWAY_PROXY_PROTOCOL": "true",
        "SSHGATE_GATEWAY_PROXY_PROTOCOL_TRUSTED": "127.0.0.0/8",
        "SSHGATE_GATEWAY_MAX_UNAUTHENTICATED": "3",
    }
    with serving(deployment, behind_a_balancer) as server:
        port = gateway_port(server)
        # A "balancer" that opens connections and never sends their headers: refused for
        # the limit at once (before the fix, all were let be until the header timeout
        # dropped them as proxy-timeout).
        with strangers(port, ["127.0.0.70"] * 5) as socks:
            assert refused_and_held(server, "max-unauthenticated", socks, 2) == (2, 3)


def test_sigterm_drains_the_main_process_and_the_worker(
    deployment: Deployment, alice: Client
) -> None:
    with serving(deployment) as server:
        folder = Path(metrics_folder(worker_pids(server)[1]))
        assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700
        client = Client(
            "alice-workers",
            deployment.root / "clients" / "alice-workers",
            gateway_port(server),
            deployment.gateway_host_key(),
        )
        deployment.issue(client, "alice", ("pwd", "mfa"))
        sessions: list[subprocess.Popen[bytes]] = []
        try:
            open_in_both(server, client, "alice", deployment.service, sessions)
            worker = worker_pids(server)[1]
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            for session in sessions:
                session.wait(timeout=DRAIN_TIMEOUT + DEADLINE)
                assert session.returncode == 255
                assert session.stderr is not None
                assert session.stderr.read() == DRAINING
            assert server.process.wait(timeout=DEADLINE) == 0
            assert wait_until(lambda: gone(worker), DEADLINE)
            assert per_process(server, "stopped") == (1, 1)
            assert not folder.exists()
        finally:
            for session in sessions:
                if session.poll() is None:
                    session.kill()
                    session.wait()


def metrics_folder(pid: int) -> str:
    """PROMETHEUS_MULTIPROC_DIR as the main process gave it to a worker."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
            return entry.split(b"=", 1)[1].decode()
    raise AssertionError("the worker has no PROMETHEUS_MULTIPROC_DIR")


def test_workers_exit_when_the_main_process_is_killed(deployment: Deployment) -> None:
    with serving(deployment) as server:
        worker = worker_pids(server)[1]
        folder = metrics_folder(worker)
        try:
            assert server.process is not None
            server.process.kill()
            server.process.wait(timeout=DEADLINE)
            started = time.monotonic()
            assert wait_until(lambda: gone(worker), DEADLINE, interval=0.05)
            assert time.monotonic() - started < 20
            assert log_count(server, "main_process_gone", "worker=1") == 1
        finally:
            # Only a main process that exits removes the metrics folder; this one did not.
            shutil.rmtree(folder, ignore_errors=True)


# --- on PostgreSQL ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def on_postgres(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The deployment again, on a database of its own in the session's PostgreSQL server."""
    url = asyncio.run(postgres_cluster.create_database())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSHGATE_STORAGE_URL", url)  # `sshgate serve` and `sshgate admin`
        d = start_deployment(tmp_path_factory.mktemp("workers-pg"), WORKERS)
        try:
            yield d
        finally:
            stop_all(d.server)
            d.env.stop()


def test_on_postgresql_every_process_listens_for_policy_changes_and_closes_its_sessions(
    on_postgres: Deployment,
) -> None:
    d = on_postgres
    assert wait_until(
        lambda: per_process(d.server, "policy_notifications", "state=listening") == (1, 1), 30
    ), d.server.log()
    bob = d.client("bob")
    certify(d.api_port, token_for(d.api_port, "bob", PASSWORD), bob)
    sessions: list[subprocess.Popen[bytes]] = []
    try:
        open_in_both(d.server, bob, "bob", d.open_service, sessions)
        switched = d.admin("org", "mfa-required", "opensrc", "on")
        assert switched["sessions_to_close"] == len(sessions)
        assert_closed_with_the_mfa_message(sessions)
        closed = per_process(d.server, "session_closed", "rule=mfa-required")
        assert closed[0] > 0 and closed[1] > 0
    finally:
        end_sessions(sessions)
