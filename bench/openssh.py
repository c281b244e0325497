"""Measurements with the stock OpenSSH client: connection setup (`ssh HOST true`) and bulk
throughput each way. Every process has a deadline after which it is killed."""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.processes import CpuMeter, MachineMeter

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, missing from older Pythons' fcntl module
READY = b"ready\n"


@dataclass(frozen=True)
class Transfer:
    mib_per_second: float
    watched_cpu: float | None  # cores the watched process used while the bytes moved
    machine_cpu: float  # cores the whole machine kept busy meanwhile (every process)
    began: float = 0.0  # time.perf_counter() when the timed part began (first byte)
    ended: float = 0.0  # and when ssh had exited

    @property
    def machine_ms_per_mib(self) -> float:
        """CPU time of the whole machine per MiB moved: what the path costs in all."""
        return 1000 * self.machine_cpu / self.mib_per_second


class MeasurementError(Exception):
    """A measured command failed or moved the wrong number of bytes; the message says how."""


def ssh_argv(config: Path, host: str, *command: str) -> list[str]:
    return ["ssh", "-F", str(config), "-T", host, *command]


def setup_time(config: Path, host: str, timeout: float = 60.0) -> float:
    """Seconds for `ssh HOST true`, from exec to exit."""
    start = time.perf_counter()
    result = subprocess.run(
        ssh_argv(config, host, "true"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise MeasurementError(
            f"ssh {host} true exited {result.returncode}: {result.stderr.decode(errors='replace')}"
        )
    return elapsed


class _Deadline:
    """Kills a process that outlives its deadline, so that no read or write blocks forever,
    and kills it on the way out when an error or Ctrl-C leaves it running."""

    def __init__(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        self._process = process
        self._timer = threading.Timer(timeout, process.kill)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _check(process: subprocess.Popen[bytes], stderr: IO[bytes], what: str) -> None:
    if process.returncode != 0:
        stderr.seek(0)
        message = stderr.read().decode(errors="replace")[-500:]
        raise MeasurementError(f"{what} exited {process.returncode}: {message}")


def upload(
    config: Path, host: str, nbytes: int, watch: int | None = None, timeout: float = 300.0
) -> Transfer:
    """`nbytes` zeros sent into `cat > /dev/null` on HOST, timed from the moment the remote
    command runs (connection setup excluded) until ssh exits; the CPU of process `watch`
    is measured over the same interval."""
    block = memoryview(bytes(CHUNK))
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            ssh_argv(config, host, "echo ready; exec cat > /dev/null"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            bufsize=0,
        )
        assert process.stdin is not None and process.stdout is not None
        with _Deadline(process, timeout):
            ready = process.stdout.readline()
            meter = CpuMeter(watch) if watch else None
            machine = MachineMeter()
            start = time.perf_counter()
            left = nbytes if ready == READY else 0
            try:
                while left > 0:
                    written = process.stdin.write(block[: min(CHUNK, left)])
                    left -= written or 0
            except BrokenPipeError:
                pass
            process.stdin.close()
            process.wait()
            elapsed = time.perf_counter() - start
            cpu = meter.share() if meter else None
            busy = machine.busy_cores()
        _check(process, stderr, f"upload through {host}")
        if ready != READY or left > 0:
            raise MeasurementError(f"upload through {host}: {left} bytes not sent")
    return Transfer(nbytes / CHUNK / elapsed, cpu, busy, start, start + elapsed)


def download(
    config: Path, host: str, nbytes: int, watch: int | None = None, timeout: float = 300.0
) -> Transfer:
    """`head -c nbytes /dev/zero` on HOST read here, timed from the first byte (connection
    setup excluded) until ssh exits; the CPU of process `watch` over the same interval."""
    buffer = bytearray(CHUNK)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            ssh_argv(config, host, f"head -c {nbytes} /dev/zero"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            bufsize=0,
        )
        assert process.stdout is not None
        fcntl.fcntl(process.stdout.fileno(), F_SETPIPE_SZ, CHUNK)
        received = 0
        start = 0.0
        meter = None
        machine = MachineMeter()
        with _Deadline(process, timeout):
            while True:
                count = process.stdout.readinto(buffer)  # type: ignore[attr-defined]
                if not count:
                    break
                if received == 0:
                    meter = CpuMeter(watch) if watch else None
                    machine = MachineMeter()
                    start = time.perf_counter()
                received += count
            process.wait()
            elapsed = time.perf_counter() - start
            cpu = meter.share() if meter else None
            busy = machine.busy_cores()
        _check(process, stderr, f"download through {host}")
        if received != nbytes:
            raise MeasurementError(f"download through {host}: {received} of {nbytes} bytes")
    return Transfer(nbytes / CHUNK / elapsed, cpu, busy, start, start + elapsed)
