"""The main process's supervision of its workers, with real processes standing in for
workers (small Python programs that speak the same protocol: `ready` on stdout, stop at
EOF on stdin): startup fails closed, a dead worker is logged and restarted, stopping drains
and then kills, and a worker notices that its main process is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sshgate.workers import READY_LINE, WorkerError, Workers, WorkerSlot

# Says ready, then serves until its stdin (the main process's pipe) reaches EOF.
SERVES = f"import os, sys; os.write(1, {READY_LINE!r}); sys.stdin.buffer.read()"
# Never becomes ready.
FAILS = "import sys; sys.exit(3)"
# Ready, and deaf to SIGTERM and to EOF: only SIGKILL stops it.
STUBBORN = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    f" os.write(1, {READY_LINE!r}); time.sleep(600)"
)
DEADLINE = 30.0


def program(code_for: dict[int, str], default: str = SERVES) -> Any:
    def command(slot: WorkerSlot) -> list[str]:
        return [sys.executable, "-c", code_for.get(slot.index, default)]

    return command


@contextlib.asynccontextmanager
async def supervised(
    count: int, command: Any, exited: list[int] | None = None
) -> AsyncIterator[Workers]:
    workers = Workers(
        count, command, dict(os.environ), (exited if exited is not None else []).append
    )
    try:
        yield workers
    finally:
        await workers.stop(drain=False, grace=5)


async def eventually(predicate: Any, timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [
        dict(getattr(record, "fields", {}))
        for record in caplog.records
        if record.name == "sshgate" and record.getMessage() == event
    ]


async def test_every_worker_reports_ready_at_start() -> None:
    async with supervised(3, program({})) as workers:
        await workers.start(timeout=DEADLINE)
        assert workers.not_running() == []
        assert len(workers.pids()) == 2


async def test_start_fails_when_a_worker_exits_before_it_is_ready() -> None:
    async with supervised(3, program({2: FAILS})) as workers:
        with pytest.raises(WorkerError, match=r"gateway worker 2 did not start \(exit status 3"):
            await workers.start(timeout=DEADLINE)


async def test_start_fails_when_a_worker_stays_silent() -> None:
    silent = "import time; time.sleep(600)"
    async with supervised(2, program({1: silent})) as workers:
        with pytest.raises(WorkerError, match="gateway worker 1 did not start"):
            await workers.start(timeout=1.0)


async def test_a_killed_worker_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sshgate")
    exited: list[int] = []
    async with supervised(2, program({}), exited) as workers:
        await workers.start(timeout=DEADLINE)
        (old,) = workers.pids()
        os.kill(old, signal.SIGKILL)
        assert await eventually(lambda: workers.not_running() == [1])
        assert await eventually(
            lambda: workers.pids() not in ([], [old]) and not workers.not_running()
        )
        assert exited == [old]  # its gauges no longer count
        (line,) = logged(caplog, "worker_exited")
        assert line == {"worker": 1, "pid": old, "status": -signal.SIGKILL, "restart_in": 0.5}


async def test_a_sighup_while_a_worker_restarts_reaches_it_once_it_is_ready(
    tmp_path: Path,
) -> None:
    hups = tmp_path / "hups"
    # Handles SIGHUP at once, says ready a second later: a reload can fall in between.
    slow_to_start = (
        "import os, signal, sys, time\n"
        f"signal.signal(signal.SIGHUP, lambda *_: open({str(hups)!r}, 'a').write('hup\\n'))\n"
        "time.sleep(1.0)\n"
        f"os.write(1, {READY_LINE!r})\n"
        "sys.stdin.buffer.read()\n"
    )
    async with supervised(2, program({}, slow_to_start)) as workers:
        await workers.start(timeout=DEADLINE)
        (old,) = workers.pids()
        os.kill(old, signal.SIGKILL)
        assert await eventually(lambda: workers.pids() not in ([], [old]))
        assert workers.not_running() == [1]  # started, not ready yet
        workers.signal(signal.SIGHUP)
        assert await eventually(lambda: not workers.not_running())
        assert await eventually(lambda: hups.exists() and hups.read_text() == "hup\n")


async def test_a_worker_that_cannot_be_started_again_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Supervision survives a failed start (here: the program is gone) and keeps trying."""
    caplog.set_level(logging.INFO, logger="sshgate")
    script = tmp_path / "worker"
    text = f"#!{sys.executable}\n{SERVES}\n"
    script.write_text(text)
    script.chmod(0o755)
    async with supervised(2, lambda slot: [str(script)]) as workers:
        await workers.start(timeout=DEADLINE)
        (old,) = workers.pids()
        script.unlink()
        os.kill(old, signal.SIGKILL)
        assert await eventually(lambda: logged(caplog, "worker_restart_failed") != [])
        assert "FileNotFoundError" in str(logged(caplog, "worker_restart_failed")[0]["error"])
        script.write_text(text)
        script.chmod(0o755)
        assert await eventually(
            lambda: workers.pids() not in ([], [old]) and not workers.not_running()
        )


async def test_stop_drains_with_sigterm_and_kills_who_ignores_it() -> None:
    exited: list[int] = []
    async with supervised(3, program({2: STUBBORN}), exited) as workers:
        await workers.start(timeout=DEADLINE)
        pids = workers.pids()
        started = time.monotonic()
        await workers.stop(drain=True, grace=1.0)
        assert time.monotonic() - started < DEADLINE
        assert workers.pids() == []
        assert sorted(exited) == sorted(pids)


async def test_stop_without_draining_closes_the_pipe() -> None:
    ignores_sigterm = (
        "import os, signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f" os.write(1, {READY_LINE!r}); sys.stdin.buffer.read()"
    )
    async with supervised(2, program({1: ignores_sigterm})) as workers:
        await workers.start(timeout=DEADLINE)
        await workers.stop(drain=False, grace=DEADLINE)  # EOF alone stops it, well before
        assert workers.pids() == []


def test_a_worker_stops_when_its_main_process_pipe_closes() -> None:
    """`watch_parent` in a real process: closing its stdin is what the kernel does when the
    main process dies, however it dies."""
    code = (
        "import asyncio, sys\n"
        "from sshgate.workers import watch_parent\n"
        "async def main():\n"
        "    gone = asyncio.Event()\n"
        "    watch_parent(gone.set)\n"
        "    sys.stdout.write('watching\\n'); sys.stdout.flush()\n"
        "    await gone.wait()\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == b"watching\n"
        assert child.poll() is None
        child.stdin.close()
        assert child.wait(timeout=DEADLINE) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
