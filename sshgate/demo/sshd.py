"""A real OpenSSH server playing an environment: own config and host key, loopback only,
trusting the gateway's upstream CA. Used by `sshgate demo`, the tests and the benchmark."""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")


class SSHDError(Exception):
    """sshd is missing or did not start; the message says why."""


def find_sshd() -> str:
    for candidate in (shutil.which("sshd"), *SSHD_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise SSHDError("OpenSSH server not found: install it (apt-get install openssh-server)")


_HANDED_OUT: set[int] = set()


def _outside_ephemeral_range() -> tuple[int, int]:
    """Ports the kernel does not hand to outgoing connections, so a port chosen here is not
    taken by some client's local end before our server binds it."""
    try:
        low, high = (
            int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        )
    except (OSError, ValueError):
        low, high = 32768, 60999
    return (10000, low - 1) if low > 12000 else (high + 1, 65535)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, never the same twice in this process."""
    low, high = _outside_ephemeral_range()
    for _ in range(500):
        port = random.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise SSHDError("no free loopback port found")


def wait_for_port(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SSHDError(f"process exited with status {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise SSHDError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


class EnvironmentServer:
    """`sshd -D` on 127.0.0.1 with TrustedUserCAKeys = the gateway's upstream CA."""

    def __init__(
        self,
        workdir: Path,
        trusted_user_ca: Path,
        port: int | None = None,
        extra_config: str = "",
        host: str = "127.0.0.1",
        login_user: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.trusted_user_ca = trusted_user_ca
        self.host = host
        self.port = port or free_port(host)
        self.extra_config = extra_config
        # The `USER` of the environment's upstream; an sshd that does not run as root can
        # log in only the user it runs as.
        self.login_user = login_user or getpass.getuser()
        self.host_key = workdir / "ssh_host_ed25519_key"
        self.log_path = workdir / "sshd.log"
        self.config_path = workdir / "sshd_config"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host_key_pub(self) -> Path:
        return Path(f"{self.host_key}.pub")

    @property
    def upstream(self) -> str:
        return f"{self.login_user}@{self.host}:{self.port}"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        self.config_path.write_text(self._config(), encoding="utf-8")
        if os.geteuid() == 0:
            # sshd refuses to start as root without its privilege separation directory.
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def _config(self) -> str:
        return f"""\
ListenAddress {self.host}:{self.port}
HostKey {self.host_key}
PidFile {self.workdir / "sshd.pid"}
TrustedUserCAKeys {self.trusted_user_ca}
AuthorizedKeysFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AcceptEnv GIT_PROTOCOL LANG LC_*
Subsystem sftp internal-sftp
AllowTcpForwarding yes
AllowAgentForwarding yes
PrintMotd no
LogLevel VERBOSE
MaxStartups 1000:30:1000
MaxSessions 1000
{self.extra_config}
"""

    def start(self, timeout: float = 20.0) -> None:
        self.prepare()
        self._process = subprocess.Popen(
            [find_sshd(), "-D", "-e", "-f", str(self.config_path), "-E", str(self.log_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.host, self.port, timeout, self._process)
        except SSHDError as exc:
            self.stop()
            log = (
                self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            )
            raise SSHDError(f"sshd did not start: {exc}\n{log}") from None

    def stop(self) -> None:
        """Stop sshd and every connection it serves, as a machine going down would (sshd's
        per-connection children start sessions of their own, so a process group is not
        enough: they are found through /proc)."""
        process, self._process = self._process, None
        if process is None:
            return
        children = _descendants(process.pid)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> EnvironmentServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (empty where there is no /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
