"""The `sshgate` command line and the `sshgate serve` process the benchmark runs, and what
/proc says about a process (resident memory, CPU time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

CLI = (sys.executable, "-m", "sshgate.cli.main")
READY_MARKERS = (" event=ready", '"event":"ready"')
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchSetupError(Exception):
    """A server did not start or a bootstrap command failed; the message says which."""


def sshgate_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    """Run one `sshgate` command; return its stdout, or raise with its one-line error."""
    result = subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
    )
    if result.returncode != 0:
        raise BenchSetupError(
            f"sshgate {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result.stdout


def sshgate_json(*args: str, env: dict[str, str], stdin: str | None = None) -> dict[str, object]:
    out = sshgate_cli(*args, "--json", env=env, stdin=stdin).strip().splitlines()
    answer: dict[str, object] = json.loads(out[-1])
    return answer


class GatewayProcess:
    """`sshgate serve --role all` in a subprocess, its log in a file; ready once it logs
    its `ready` line."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchSetupError("sshgate serve is not running")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait for the `ready` line; a restart appends to the same log."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*CLI, "serve", "--role", "all"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                # Its own session: a Ctrl-C at the terminal reaches only the benchmark, which
                # then stops the gateway with SIGTERM (a drain) in its own time.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()[offset:]
            if any(marker in text for marker in READY_MARKERS):
                return
            if self.process.poll() is not None:
                raise BenchSetupError(f"sshgate serve exited early:\n{text[-3000:]}")
            time.sleep(0.05)
        self.stop()
        raise BenchSetupError(
            f"sshgate serve not ready after {timeout:.0f}s:\n{self.log()[-3000:]}"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """A fresh process on the same port, e.g. for a memory baseline."""
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_bytes().decode(errors="replace")
        except OSError:
            return ""


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: fields 3 (state) onwards, 1-based (man proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it (`sshgate serve`'s gateway workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def rss_kib(pid: int) -> int:
    """VmRSS of a process and its descendants, in KiB."""
    total = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    if total == 0:
        raise BenchSetupError(f"no VmRSS for pid {pid}")
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process and its descendants have used so far."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue  # exited meanwhile
        total += int(fields[11]) + int(fields[12])  # utime (field 14), stime (15)
    return total / CLK_TCK


class CpuMeter:
    """CPU share of one process over a wall-clock interval (1.0 = one full core)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu = cpu_seconds(pid)
        self._wall = time.monotonic()

    def share(self) -> float:
        wall = time.monotonic() - self._wall
        return (cpu_seconds(self.pid) - self._cpu) / wall if wall > 0 else 0.0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


class MachineMeter:
    """How many cores the whole machine kept busy over an interval: ours and anyone
    else's (other work on a shared machine shows up here)."""

    def __init__(self) -> None:
        self._busy, self._total = _machine_ticks()
        self._wall = time.monotonic()

    def busy_cores(self) -> float:
        busy, _ = _machine_ticks()
        wall = time.monotonic() - self._wall
        return (busy - self._busy) / CLK_TCK / wall if wall > 0 else 0.0
