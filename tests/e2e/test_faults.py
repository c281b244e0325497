"""Faults: what a user sees, and what is kept safe, when a part of the system fails.

- The environment dies mid-session: the client gets an error and a non-zero exit, the
  gateway goes on serving everyone else, and the environment is usable again once back.
- The store becomes unreadable or locked: every new request is denied with a clear message
  (fail closed), and open sessions are closed once the outage outlasts the grace period.
- The gateway is killed mid-`git push`: the repository upstream is intact (`git fsck`), and
  the push succeeds when retried against the restarted gateway.
- The API restarts while `sshgate login` runs: one clear line, exit status 1, and no half
  written or mismatched key and certificate in SSHGATE_HOME.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sshgate.demo.sshd import EnvironmentServer, free_port
from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.support.deployment import CLI, Client, EchoServer, Server, ref_of, ssh_with, wait_until

pytestmark = pytest.mark.e2e

STORE_UNAVAILABLE = "sshgate: access cannot be checked right now; try again later"
STORE_LOST = "sshgate: access cannot be checked right now; closing this session"
ENVIRONMENT_LOST = "sshgate: the environment closed the connection"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("faults"))
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def restart_gateway(d: Deployment) -> None:
    """A fresh `sshgate serve` with the same configuration and ports (the old one is gone)."""
    d.server.stop()
    d.server = Server(d.config, d.server.env, d.server.role)
    d.server.start()


def upstream_activity(env: EnvironmentServer) -> int:
    """Logins and sessions the environment's sshd has logged (see test_hostile_requests)."""
    log = env.log()
    return log.count("Accepted publickey") + log.count("Starting session:")


def kill_process_tree(pid: int) -> None:
    """SIGKILL `pid` and everything below it, as a machine losing power would."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    victims, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            victims.append(child)
            todo.append(child)
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


class Session:
    """A long-running `ssh service cat` whose output is read line by line."""

    def __init__(self, client: Client, service: str) -> None:
        self.process = subprocess.Popen(
            client.ssh_command(service, "echo started; exec cat"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.readline() == b"started\n"

    def readline(self) -> bytes:
        assert self.process.stdout is not None
        return self.process.stdout.readline()

    def echo(self, line: bytes) -> bytes:
        assert self.process.stdin is not None
        self.process.stdin.write(line)
        self.process.stdin.flush()
        return self.readline()

    def finish(self, timeout: float = 60) -> tuple[int, bytes]:
        """Close stdin (cat then exits) and wait."""
        _, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err

    def ended_by_the_other_side(self, timeout: float) -> tuple[int, bytes]:
        """Wait, stdin still open, for the session to be ended by someone else."""
        self.process.wait(timeout=timeout)
        _, err = self.process.communicate(timeout=10)
        return self.process.returncode, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)


# --- the environment dies ------------------------------------------------------------------


def test_environment_dying_mid_session_ends_that_session_only(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    d = deployment
    victim = EnvironmentServer(
        tmp_path / "victim", trusted_user_ca=d.root / "data" / "upstream_ca.pub"
    )
    victim.start()
    sessions: list[Session] = []
    try:
        service = str(
            d.admin(
                "env",
                "add",
                d.project,
                "victim",
                "--upstream",
                victim.upstream,
                "--host-key-file",
                str(victim.host_key_pub),
            )["service"]
        )
        doomed = Session(alice, service)
        bystander = Session(alice, d.service)
        sessions += [doomed, bystander]
        assert doomed.echo(b"before\n") == b"before\n"

        kill_process_tree(int((victim.workdir / "sshd.pid").read_text()))  # and its sessions

        status, stderr = doomed.ended_by_the_other_side(timeout=60)
        assert status == 255
        assert stderr.decode().endswith(ENVIRONMENT_LOST + "\n"), stderr
        # Everyone else is served as before: an open session, and a new one.
        assert bystander.echo(b"still here\n") == b"still here\n"
        fresh = alice.ssh(d.service, "echo fresh")
        assert fresh.returncode == 0 and fresh.stdout == b"fresh\n", fresh.stderr
        assert bystander.finish() == (0, b"")
        # While the environment is down its users get one line; once it is back, it works.
        down = alice.ssh(service, "true")
        assert down.returncode == 255 and b"unreachable" in down.stderr, down.stderr
        victim.stop()
        victim.start()
        back = alice.ssh(service, "echo back")
        assert back.returncode == 0 and back.stdout == b"back\n", back.stderr
    finally:
        for session in sessions:
            session.kill()
        victim.stop()


# --- the store ---------------------------------------------------------------------------


@pytest.fixture
def spoiled(tmp_path: Path) -> Iterator[Deployment]:
    """A deployment of its own: its database is ruined by the test."""
    d = start_deployment(tmp_path / "spoiled")
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def test_an_unreadable_store_denies_every_new_request_and_closes_open_sessions(
    spoiled: Deployment, tmp_path: Path
) -> None:
    d = spoiled
    d.enable_mfa("alice")
    alice = d.client("alice")
    d.issue(alice, "alice", ("pwd", "mfa"))
    open_session = Session(alice, d.service)
    try:
        assert open_session.echo(b"ping\n") == b"ping\n"
        # The disk returns garbage where the database was (same files, same inodes: the
        # gateway's open handles see it, as they would see a failing disk).
        for suffix in ("", "-wal", "-shm"):
            path = d.root / "data" / f"sshgate.db{suffix}"
            if path.exists():
                with path.open("r+b") as handle:
                    handle.write(os.urandom(max(path.stat().st_size, 4096)))
        marker = tmp_path / "created-upstream"
        before = upstream_activity(d.env)
        for _ in range(3):
            denied = alice.ssh(d.service, f"touch {marker}")
            assert denied.returncode != 0
            assert denied.stdout == b""
            assert STORE_UNAVAILABLE in denied.stderr.decode(), denied.stderr
        assert not marker.exists()
        assert upstream_activity(d.env) == before
        # The session opened before the outage is closed once it outlasts the grace period
        # (8 s), with a line saying why.
        status, stderr = open_session.ended_by_the_other_side(timeout=60)
        assert status == 255
        assert STORE_LOST in stderr.decode(), stderr
    finally:
        open_session.kill()


class ExclusiveLock:
    """Another process holding the database's write lock (sqlite3 BEGIN EXCLUSIVE)."""

    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(database, isolation_level=None, timeout=30)
        self._db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
        self._db.close()


def test_a_locked_store_denies_new_requests_rather_than_allow_them_unaudited(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    d = deployment
    marker = tmp_path / "created-upstream"
    before = upstream_activity(d.env)
    echo = EchoServer()
    lock = ExclusiveLock(d.root / "data" / "sshgate.db")
    try:
        started = time.monotonic()
        denied = alice.ssh(d.service, f"touch {marker}")
        assert denied.returncode == 1, denied
        assert denied.stderr.decode() == STORE_UNAVAILABLE + "\n"
        # Denied after the store's busy timeout (5 s), not left hanging.
        assert time.monotonic() - started < 40
        assert not marker.exists()
        # A port forward likewise: refused, and nothing connected.
        forward = ssh_with(alice, d.service, options=("-W", f"127.0.0.1:{echo.port}"))
        assert forward.returncode == 255
        assert b"access cannot be checked right now" in forward.stderr, forward.stderr
        assert echo.accepted == 0
        assert upstream_activity(d.env) == before
    finally:
        lock.release()
        echo.close()
    # Lock released: served again, and audited.
    result = alice.ssh(d.service, "echo served")
    assert result.returncode == 0 and result.stdout == b"served\n", result.stderr
    records = d.admin("audit", "--since", "10m")["items"]
    assert isinstance(records, list)
    assert any(r["decision"] == "allow" and r["kind"] == "exec" for r in records)


# --- the gateway dies mid-push -------------------------------------------------------------


def quarantine_dirs(repo: Path) -> list[Path]:
    """git receive-pack's quarantine folders: present while it receives a push."""
    return list((repo / "objects").glob("tmp_objdir-incoming-*"))


def receive_pack_running(repo: Path) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            words = cmdline.read_bytes().split(b"\0")
            if any(b"receive-pack" in w for w in words) and str(repo).encode() in words:
                return True
    return False


def fsck(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "fsck", "--full", "--strict", "--no-dangling"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_gateway_killed_mid_push_leaves_the_repository_intact_and_a_retry_lands(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    d = deployment
    project = d.project
    work = tmp_path / "work"
    clone = alice.git("clone", "-q", f"{project}@gw:{project}.git", str(work))
    assert clone.returncode == 0, clone.stderr
    (work / "big.bin").write_bytes(os.urandom(64 << 20))  # incompressible: a long transfer
    git = ["-C", str(work), "-c", "user.name=alice", "-c", "user.email=alice@example.com"]
    assert alice.git(*git, "add", "big.bin").returncode == 0
    assert alice.git(*git, "commit", "-q", "-m", "big").returncode == 0
    head = alice.git(*git, "rev-parse", "HEAD").stdout.strip()
    main_before = ref_of(d.repo)

    push = subprocess.Popen(
        ["git", *git, "push", "-q", "origin", "HEAD:refs/heads/big"],
        env=alice.git_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # receive-pack has read the ref update and is taking in the pack: freeze the client
        # so the push cannot finish first, then kill the gateway outright.
        assert wait_until(lambda: bool(quarantine_dirs(d.repo)) or push.poll() is not None, 120)
        assert push.poll() is None, push.communicate()
        os.killpg(push.pid, signal.SIGSTOP)
        assert d.server.process is not None
        d.server.process.kill()
        d.server.process.wait(timeout=30)
        os.killpg(push.pid, signal.SIGCONT)
        _, err = push.communicate(timeout=120)
        assert push.returncode != 0, err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(push.pid, signal.SIGCONT)
        if push.poll() is None:
            push.kill()
            push.wait()

    # receive-pack upstream notices its client is gone and ends. Its quarantine folder
    # (objects/tmp_objdir-incoming-*) may stay behind: git never reads it, and `git gc`
    # removes it; nothing of the interrupted push entered the repository.
    assert wait_until(lambda: not receive_pack_running(d.repo), 60)
    checked = fsck(d.repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ref_of(d.repo) == main_before
    missing = subprocess.run(
        ["git", "--git-dir", str(d.repo), "rev-parse", "--verify", "-q", "refs/heads/big"],
        capture_output=True,
    )
    assert missing.returncode != 0

    restart_gateway(d)
    retry = alice.git(*git, "push", "-q", "origin", "HEAD:refs/heads/big")
    assert retry.returncode == 0, retry.stderr
    assert ref_of(d.repo, "refs/heads/big") == head
    checked = fsck(d.repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the API restarts while the CLI logs in ------------------------------------------------


class RestartingProxy:
    """Stands between the CLI and the API. On the `cut`-th connection it restarts the API
    (stop; the request in flight is lost) before anything is answered; every other
    connection is relayed as is. Counts connections so a test can cut at each step."""

    def __init__(self, target: int, on_cut: Callable[[], None]) -> None:
        self.target = target
        self.on_cut = on_cut
        self.cut = 0
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections == self.cut:
                client.recv(65536)  # the request arrives ...
                self.on_cut()  # ... and the API goes away before it answers
                # Reset, as the connection of a process that went away.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._sock.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()


class Restartable:
    """`sshgate serve` that can be stopped and started again (a new process each time)."""

    def __init__(self, config: Path, overrides: dict[str, str], role: str) -> None:
        self._args = (config, overrides, role)
        self.server: Server | None = None

    def start(self) -> None:
        self.stop()  # the previous process is gone before the next one binds its ports
        _wait_until_bindable(self._args[1].get("SSHGATE_API_LISTEN", ""))
        self.server = Server(*self._args)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _wait_until_bindable(listen: str, timeout: float = 30.0) -> None:
    """Poll until HOST:PORT can be listened on again (as uvicorn will, SO_REUSEADDR)."""
    if not listen:
        return
    host, port = listen.rsplit(":", 1)

    def bindable() -> bool:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, int(port)))
            except OSError:
                return False
            return True

    assert wait_until(bindable, timeout), f"{listen} still in use"


def home_files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(home.iterdir()) if p.is_file()}


def certified_key(home: Path) -> str:
    """The public key the certificate in `home` certifies (its SHA256 fingerprint)."""
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(home / "id_ed25519-cert.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in shown.splitlines() if "Public key:" in line)
    return line.split()[-1]


def key_fingerprint(home: Path) -> str:
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(home / "id_ed25519.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return shown.split()[1]


def test_an_api_restart_during_login_gives_one_line_and_no_mismatched_files(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    api_port, metrics_port = free_port(), free_port()
    api = Restartable(
        d.config,
        {
            **{k: v for k, v in d.server.env.items() if k.startswith("SSHGATE_")},
            "SSHGATE_API_LISTEN": f"127.0.0.1:{api_port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        },
        role="api",
    )
    api.start()
    proxy = RestartingProxy(api_port, on_cut=api.stop)
    home = tmp_path / "home"
    env = {
        **os.environ,
        "SSHGATE_HOME": str(home),
        "SSHGATE_API": f"http://127.0.0.1:{proxy.port}",
    }
    env.pop("SSHGATE_CONFIG", None)

    def login() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "login", "-f", "--user", "bob", "--password-stdin"],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    try:
        first = login()
        assert first.returncode == 0, first.stderr
        steps = proxy.connections  # connections one whole login makes
        assert steps >= 2
        for cut in range(1, steps + 1):
            before = home_files(home)
            proxy.connections, proxy.cut = 0, cut
            failed = login()
            assert failed.returncode == 1, (cut, failed)
            assert failed.stdout == ""
            assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
            assert "API" in failed.stderr, failed.stderr
            after = home_files(home)
            # Nothing half written: no temporary file is left, and the key and the
            # certificate are a pair (the old pair, or a complete new one).
            assert not [name for name in after if name.startswith(".")], after
            assert set(after) == set(before), (cut, set(after) ^ set(before))
            assert certified_key(home) == key_fingerprint(home), f"cut at step {cut}"
            api.start()  # the API is back
            proxy.cut = 0
            again = login()
            assert again.returncode == 0, (cut, again.stderr)
            assert certified_key(home) == key_fingerprint(home)
        # The last login's files work: bob gets in through the gateway with them.
        result = subprocess.run(
            [
                "ssh",
                "-F",
                str(home / "ssh_config"),
                "-o",
                "BatchMode=yes",
                f"{d.open_service}@127.0.0.1",
                "echo in",
            ],
            capture_output=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0 and result.stdout == b"in\n", result.stderr
    finally:
        proxy.close()
        api.stop()
        shutil.rmtree(home, ignore_errors=True)
