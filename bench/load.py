"""New connections per second, sustained for a few seconds by a bounded number of
concurrent asyncssh clients, each looping: connect, run `true`, close. The setup latency of
one loop is connect plus the exit status of `true` (closing is not counted)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncssh

from bench.asyncclient import AsyncTargets, connect
from bench.processes import CpuMeter
from bench.stats import percentile

OPERATION_TIMEOUT = 30.0


@dataclass(frozen=True)
class LoadResult:
    path: str
    concurrency: int
    seconds: float
    completed: int
    errors: int
    per_second: float
    p50: float
    p99: float
    gateway_cpu: float  # cores the gateway process used during the run
    gateway_cpu_ms_per_connection: float
    client_cpu: float  # cores this load generator used during the run
    first_error: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CommandFailed(Exception):
    """`true` did not exit 0 on the far side."""


async def _once(targets: AsyncTargets, path: str) -> float:
    start = time.perf_counter()
    connection = await connect(targets, path)
    try:
        result = await connection.conn.run("true", check=False)
        elapsed = time.perf_counter() - start
        if result.exit_status != 0:
            raise CommandFailed(f"`true` exited {result.exit_status}: {result.stderr!r}")
    finally:
        connection.close()
        await connection.wait_closed()
    return elapsed


async def sustain(
    targets: AsyncTargets, path: str, concurrency: int, seconds: float, gateway_pid: int
) -> LoadResult:
    latencies: list[float] = []
    errors: list[str] = []
    gateway = CpuMeter(gateway_pid)
    client_cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            try:
                latencies.append(await asyncio.wait_for(_once(targets, path), OPERATION_TIMEOUT))
            except (asyncssh.Error, OSError, TimeoutError, CommandFailed) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    gateway_share = gateway.share()
    return LoadResult(
        path=path,
        concurrency=concurrency,
        seconds=elapsed,
        completed=len(latencies),
        errors=len(errors),
        per_second=len(latencies) / elapsed,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        gateway_cpu=gateway_share,
        gateway_cpu_ms_per_connection=1000 * gateway_share * elapsed / max(len(latencies), 1),
        client_cpu=(time.process_time() - client_cpu) / elapsed,
        first_error=errors[0] if errors else "",
    )
