"""N sessions held open through the gateway from this one asyncssh process: the gateway's
resident memory per session, and the setup time of a new `ssh HOST true` while they are held.

The crowd grows in steps (e.g. 100, then 500, then 1000 in all), so each step's memory is
measured against the same baseline, taken after a few warm-up sessions have come and gone
(the caller restarts the gateway first, so that earlier bulk transfers' buffers are not in
the baseline)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from bench.asyncclient import AsyncTargets, PathConnection, connect
from bench.clientconf import PATHS
from bench.openssh import ssh_argv
from bench.processes import rss_kib
from bench.stats import Summary, rotated

OPEN_CONCURRENCY = 25
WARM_UP_SESSIONS = 10
ECHO = b"ping\n"
STEP_TIMEOUT = 30.0


@dataclass
class CrowdStep:
    target: int
    held: int
    failed: int
    open_seconds: float
    rss_kib: int
    per_session_kib: float
    new_connection: dict[str, Summary] = field(default_factory=dict)
    first_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "held": self.held,
            "failed": self.failed,
            "open_seconds": self.open_seconds,
            "gateway_rss_kib": self.rss_kib,
            "per_session_kib": self.per_session_kib,
            "new_connection_seconds": {p: s.to_json() for p, s in self.new_connection.items()},
            "first_error": self.first_error,
        }


@dataclass
class _Held:
    connection: PathConnection
    process: asyncssh.SSHClientProcess[bytes]


async def _open_one(targets: AsyncTargets) -> _Held:
    """A gateway session running `cat` upstream, proven forwarded by one echoed line."""
    connection = await connect(targets, "gateway")
    try:
        process = await connection.conn.create_process("cat", encoding=None)
        process.stdin.write(ECHO)
        echoed = await process.stdout.readexactly(len(ECHO))
        if echoed != ECHO:
            raise asyncssh.ProtocolError(f"echo mismatch: {echoed!r}")
    except BaseException:
        connection.close()
        raise
    return _Held(connection, process)


async def _timed_ssh_true(config: Path, host: str) -> float:
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *ssh_argv(config, host, "true"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        status = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if status != 0:
        raise RuntimeError(f"ssh {host} true exited {status} while the crowd was held")
    return time.perf_counter() - start


async def _grow(targets: AsyncTargets, held: list[_Held], count: int) -> tuple[int, str]:
    """Open `count` more sessions, OPEN_CONCURRENCY at a time; return failures and the first
    error."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    errors: list[str] = []

    async def one() -> None:
        async with gate:
            try:
                held.append(await asyncio.wait_for(_open_one(targets), STEP_TIMEOUT))
            except (asyncssh.Error, OSError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one() for _ in range(count)))
    return len(errors), errors[0] if errors else ""


async def _close_all(held: list[_Held]) -> None:
    for item in held:
        item.connection.close()
    waits = [item.connection.wait_closed() for item in held]
    held.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 60)


async def hold_crowd(
    targets: AsyncTargets, steps: list[int], gateway_pid: int, ssh_config: Path, samples: int
) -> tuple[int, list[CrowdStep]]:
    """Grow the crowd through `steps` (totals); return the baseline RSS and one result per
    step."""
    held: list[_Held] = []
    # A few sessions first, so that lazy imports and caches are not counted per session.
    await _grow(targets, held, WARM_UP_SESSIONS)
    await _close_all(held)
    baseline = rss_kib(gateway_pid)
    results = []
    try:
        for target in steps:
            started = time.perf_counter()
            failed, first_error = await _grow(targets, held, target - len(held))
            open_seconds = time.perf_counter() - started
            rss = rss_kib(gateway_pid)
            step = CrowdStep(
                target=target,
                held=len(held),
                failed=failed,
                open_seconds=open_seconds,
                rss_kib=rss,
                per_session_kib=(rss - baseline) / len(held) if held else float("nan"),
                first_error=first_error,
            )
            times: dict[str, list[float]] = {path: [] for path in PATHS}
            for index in range(samples):
                for path in rotated(PATHS, index):
                    times[path].append(await _timed_ssh_true(ssh_config, path))
            step.new_connection = {path: Summary.of(values) for path, values in times.items()}
            results.append(step)
    finally:
        await _close_all(held)
    return baseline, results
