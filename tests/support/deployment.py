"""A real sshgate deployment for end-to-end tests: `sshgate init`, `sshgate serve` as a
subprocess on free loopback ports, a real sshd environment, and client identities that
the stock OpenSSH and git clients use through an ssh_config file."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from sshgate.demo.identity import ClientIdentity
from sshgate.demo.sshd import EnvironmentServer

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

    def __init__(self, config: Path, overrides: dict[str, str], role: str = "all") -> None:
        self.config = config
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
