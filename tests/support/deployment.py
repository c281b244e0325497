"""A real sshgate deployment for end-to-end tests: `sshgate init`, `sshgate serve` as a
subprocess on free loopback ports, a real sshd environment, and client identities that
the stock OpenSSH and git clients use through an ssh_config file."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca.issuer import Permissions
from sshgate.ca.keys import KeyDir
from sshgate.demo.identity import ClientIdentity
from sshgate.demo.sshd import EnvironmentServer
from sshgate.store import open_store

CLI = [sys.executable, "-m", "sshgate.cli.main"]


def sshgate(
    *args: str,
    config: Path | None = None,
    stdin: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    if config is not None:
        full_env["SSHGATE_CONFIG"] = str(config)
    full_env.update(env or {})
    result = subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, env=full_env, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"sshgate {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result


def sshgate_json(*args: str, config: Path, stdin: str | None = None) -> dict[str, object]:
    out = sshgate(*args, "--json", config=config, stdin=stdin).stdout
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])  # type: ignore[no-any-return]


class Server:
    """`sshgate serve` in a subprocess; ready once it logs its `ready` line."""

    def __init__(
        self,
        config: Path,
        overrides: dict[str, str],
        role: str = "all",
        nofile: int | None = None,
    ) -> None:
        self.config = config
        self.nofile = nofile  # RLIMIT_NOFILE of the serve process, when given
        self.env = {**os.environ, "SSHGATE_CONFIG": str(config), **overrides}
        self.role = role
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [*CLI, "serve", "--role", self.role],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=None if self.nofile is None else self._limit_descriptors,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"sshgate serve exited early:\n{''.join(self.lines)}")
            if " event=ready" in line or '"event":"ready"' in line:
                return
        raise AssertionError(f"sshgate serve not ready:\n{''.join(self.lines)}")

    def _limit_descriptors(self) -> None:
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _pump(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return "".join(self.lines)


class Client(ClientIdentity):
    """A test user's OpenSSH client, pointed at the deployment's gateway as host `gw`."""

    def __init__(self, name: str, home: Path, gateway_port: int, gateway_host_key: str) -> None:
        super().__init__(home, "127.0.0.1", gateway_port, gateway_host_key)
        self.name = name

    def ssh(
        self,
        user: str,
        *command: str,
        stdin: str | bytes | None = None,
        tty: bool = False,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[bytes]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return subprocess.run(
            self.ssh_command(user, *command, tty=tty),
            input=data if data is not None else b"",
            capture_output=True,
            timeout=timeout,
        )

    def git(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=self.git_env(), capture_output=True, text=True, timeout=120
        )


def make_bare_repo(path: Path) -> None:
    """A bare repository with one commit on main."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    work = path.parent / (path.name + "-seed")
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README").write_text("seed\n")
    git = ["git", "-C", str(work), "-c", "user.name=seed", "-c", "user.email=seed@example.com"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "seed"], check=True)
    subprocess.run([*git, "push", "-q", str(path), "main"], check=True)


def ref_of(repo: Path, ref: str = "refs/heads/main") -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def upstream_logins(env: EnvironmentServer) -> int:
    return env.log().count("Accepted publickey")


def wait_until(predicate: object, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return bool(predicate())  # type: ignore[operator]


# --- helpers for the forwarding, limits and lifecycle tests ---------------------------------


def open_session(client: Client, service: str, command: str) -> subprocess.Popen[bytes]:
    """An ssh session that has printed `ready` (so it is relayed) and then runs `command`;
    the caller stops it."""
    process = subprocess.Popen(
        client.ssh_command(service, f"echo ready; {command}"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def ssh_with(
    client: Client,
    user: str,
    *command: str,
    options: tuple[str, ...] = (),
    stdin: str | bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """`ssh -F <client config> -T [options] user@gw command`."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        ["ssh", "-F", str(client.config), "-T", *options, f"{user}@gw", *command],
        input=data if data is not None else b"",
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


class EchoServer:
    """A TCP echo server on 127.0.0.1: a port on the environment (the environment's sshd runs
    on this machine), for forwarding tests. Echoes until EOF, then half-closes."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._sock.close()


def raw_connection(port: int, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    """A TCP connection to the gateway that never authenticates; returned once the gateway
    has sent its version line (so it has counted the connection)."""
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )
    banner = b""
    while b"\n" not in banner:
        chunk = sock.recv(256)
        if not chunk:
            break
        banner += chunk
    if not banner.startswith(b"SSH-2.0-"):
        sock.close()
        raise AssertionError(f"no SSH banner from the gateway: {banner!r}")
    return sock


def seconds_until_closed(sock: socket.socket, timeout: float) -> float:
    """Wait for the peer to close `sock`; return how long that took."""
    sock.settimeout(timeout)
    started = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, TimeoutError):
        pass
    return time.monotonic() - started


def log_count(server: Server, event: str, *fields: str) -> int:
    """How many `event=<event>` lines `sshgate serve` has logged (text log format), with
    every one of `fields` (`key=value`) on the line."""
    return sum(
        1
        for line in server.lines
        if f" event={event} " in f"{line.rstrip()} "
        and all(f" {field} " in f" {line.rstrip()} " for field in fields)
    )


def issue_certificate(
    data_dir: Path,
    client: Client,
    username: str,
    amr: tuple[str, ...],
    permissions: Permissions | None = None,
) -> int:
    """Sign `client`'s key with the deployment's active CA key, as the API would, optionally
    with some permit-* extensions left out."""

    async def issue() -> int:
        store = await open_store("sqlite:///sshgate.db", str(data_dir))
        try:
            user = await store.get_user_by_name(username)
            assert user is not None
            policy = CAPolicy(permissions=permissions or Permissions())
            ca = CertificateAuthority(KeyDir(data_dir / "ca"), store, policy)
            issued = await ca.issue(
                user, client.public_key, amr, int(time.time()), str(uuid.uuid4())
            )
        finally:
            await store.close()
        client.cert.write_text(issued.certificate + "\n")
        return issued.serial

    return asyncio.run(issue())


def set_environment_host_keys(
    data_dir: Path, project: str, name: str, host_keys: tuple[str, ...]
) -> None:
    """Change an environment's pinned host keys in the store directly (the CLI refuses an
    empty list, which is how a gateway with no known host key is tested)."""

    async def change() -> None:
        store = await open_store("sqlite:///sshgate.db", str(data_dir))
        try:
            await store.set_environment_host_keys(project, name, "app", host_keys)
        finally:
            await store.close()

    asyncio.run(change())


class ControlMaster:
    """A ControlMaster connection for `client` (ControlPersist), closed with `ssh -O exit`.
    Entering returns the options that make another ssh use it."""

    def __init__(self, client: Client, service: str, extra: tuple[str, ...] = ()) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="sgm-", dir="/tmp"))  # socket path <108 bytes
        self._client = client
        self._service = service
        path = self._dir / "mux"
        self.options = (
            "-o",
            f"ControlPath={path}",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=60",
        )
        self._extra = extra
        self._path = path

    def __enter__(self) -> tuple[str, ...]:
        first = ssh_with(
            self._client, self._service, "echo master", options=(*self.options, *self._extra)
        )
        assert first.returncode == 0 and first.stdout == b"master\n", first.stderr
        assert self._path.exists()
        return self.options

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            [
                "ssh",
                "-F",
                str(self._client.config),
                *self.options,
                "-O",
                "exit",
                f"{self._service}@gw",
            ],
            capture_output=True,
            timeout=30,
        )
        wait_until(lambda: not self._path.exists(), 10)
        shutil.rmtree(self._dir, ignore_errors=True)
