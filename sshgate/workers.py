"""Gateway worker processes: several gateways of one `sshgate serve` on one listening address.

One process relays at most one CPU core (asyncssh does per-packet work in Python). With
`gateway.workers` = N > 1, the main process (`sshgate serve --role all|gateway`) runs what
it always runs, its gateway listening with SO_REUSEPORT, and starts N-1 workers: fresh
interpreters running `sshgate serve --role gateway --worker I/N`, each a gateway only (no
API, no CA private keys, no health server) on the main process's gateway address, the same
configuration file and the same store. The kernel spreads new connections over the N
listening sockets; the connection limits stay totals, counted by every process in one
shared table (`sshgate.ssh_gateway.shared_admission`, in the processes' shared folder,
cleared for a worker that exits: `slot_freed`), and each process runs its own live-policy
watcher.

The main process supervises its workers (`Workers`):
- a worker's stdin is a pipe whose other end only the main process holds, so a worker
  reads EOF and stops when the main process dies, even by SIGKILL (`watch_parent`);
- a worker writes READY_LINE on stdout once it listens and handles signals;
- SIGHUP is forwarded to the workers; on SIGTERM/SIGINT the main process forwards it and
  waits for them up to `gateway.drain_timeout` plus STOP_MARGIN seconds, then kills them;
- a worker that exits on its own is logged (`worker_exited`) and started again after a
  delay that doubles while it keeps failing (`restart_delay`).

It fails closed: at startup every worker must report ready, or `sshgate serve` does not
start; afterwards /readyz answers 503 while any worker is not running.

Metrics: prometheus_client's multiprocess mode is chosen by PROMETHEUS_MULTIPROC_DIR when
prometheus_client is first imported, so the main process creates a private folder for it
before that (`shared_metrics_dir`); workers inherit it through their environment, and the
main process serves the sum of all processes' values (`sshgate.metrics.all_processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sshgate.config import GATEWAY_ROLES
from sshgate.logs import log

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
READY_LINE = b"ready\n"
# Seconds a worker has to report ready (a fresh interpreter on a loaded machine).
START_TIMEOUT = 60.0
# Beyond drain_timeout: a draining worker still closes its connections and its store.
STOP_MARGIN = 10.0
# Seconds a worker that closed its stdout has to exit before it is killed.
EXIT_WAIT = 5.0
RESTART_DELAY_FIRST = 0.5
RESTART_DELAY_MAX = 30.0
# A worker that ran this long before it exited starts the backoff again.
STABLE_SECONDS = 60.0


class WorkerError(Exception):
    """Worker processes cannot be set up or started; the message says which and why."""


# --- pure parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSlot:
    """Which gateway process one is: `index` of `count` (the main process is 0); written
    `I/N` on the worker's command line."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> WorkerSlot:
        index, sep, count = text.partition("/")
        if not (sep and index.isdigit() and count.isdigit()):
            raise ValueError(f"expected INDEX/COUNT, got {text!r}")
        slot = cls(int(index), int(count))
        if not 0 < slot.index < slot.count:
            raise ValueError(f"worker {slot.index} of {slot.count} does not exist")
        return slot

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def worker_count(configured: int, cores: int) -> int:
    """Gateway processes for `gateway.workers` = `configured` (0: one per usable core)."""
    return configured if configured > 0 else max(1, cores)


def crashes_in_a_row(previous: int, uptime: float) -> int:
    """How many times in a row a worker has failed, now that it exited `uptime` seconds
    after it reported ready (0 if it never did); one that served STABLE_SECONDS counts as
    failing for the first time."""
    return 1 if uptime >= STABLE_SECONDS else previous + 1


def restart_delay(crashes: int) -> float:
    """Seconds to wait before starting a worker again after `crashes` failures in a row."""
    doublings = min(max(0, crashes - 1), 16)
    return min(RESTART_DELAY_MAX, RESTART_DELAY_FIRST * float(2**doublings))


def worker_command(slot: WorkerSlot, config_path: str | None) -> list[str]:
    """A fresh interpreter (never a fork of the running event loop) serving one gateway."""
    command = [sys.executable, "-m", "sshgate.cli.main", "serve", "--role", "gateway"]
    command += ["--worker", str(slot)]
    if config_path:  # else the worker finds SSHGATE_CONFIG in the environment it inherits
        command += ["--config", str(Path(config_path).expanduser().resolve())]
    return command


def listen_address(host: str, port: int) -> str:
    """`gateway.listen` for the workers: the host and port the main process listens on."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the main process: setting up and supervising workers ---------------------------------


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return os.cpu_count() or 1


def gateway_processes(configured: int, role: str) -> int:
    """How many gateway processes `sshgate serve --role role` runs in all."""
    return worker_count(configured, usable_cores()) if role in GATEWAY_ROLES else 1


@contextlib.contextmanager
def shared_metrics_dir(needed: bool) -> Iterator[str | None]:
    """A private (0700) folder for every process's metrics while the block runs, named in
    PROMETHEUS_MULTIPROC_DIR for this process and the workers it starts; None when not
    `needed` (one process: metrics stay as they are). It must exist before
    prometheus_client is imported, which picks its mode once, at import."""
    if not needed:
        yield None
        return
    if "prometheus_client" in sys.modules:
        raise WorkerError("prometheus_client was imported before the metrics folder was set")
    folder = tempfile.mkdtemp(prefix="sshgate-metrics-")
    os.environ[METRICS_DIR_ENV] = folder
    try:
        yield folder
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


class Worker:
    """One worker's place: its current process, and whether that process reported ready."""

    def __init__(self, slot: WorkerSlot, command: list[str], env: dict[str, str]) -> None:
        self.slot = slot
        self.process: asyncio.subprocess.Process | None = None
        self.running = False
        self.ready_at = 0.0  # when the current process reported ready; 0: not (yet)
        self.reload_pending = False  # a SIGHUP arrived while it was starting
        self._command = command
        self._env = env

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self) -> None:
        self.running = False
        self.ready_at = 0.0
        self.reload_pending = False  # it reads the configuration as it is now anyway
        # uvloop does not close inherited descriptors for a child (close_fds is not
        # implemented there); sshgate's own descriptors are close-on-exec, so a worker
        # holds only its own pipes.
        self.process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,  # the pipe whose EOF says the main process is gone
            stdout=asyncio.subprocess.PIPE,  # READY_LINE
            env=self._env,
        )

    async def until_ready(self, timeout: float) -> bool:
        """True once the worker wrote READY_LINE; False, and the process killed, when it
        exited or stayed silent for `timeout` seconds instead."""
        assert self.process is not None and self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            line = None
        if line != READY_LINE:
            if line == b"":  # EOF: it is exiting; a signal now could race its exit status
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), EXIT_WAIT)
            self.send(signal.SIGKILL)
            return False
        self.running = True
        self.ready_at = time.monotonic()
        log("worker_ready", worker=self.slot.index, pid=self.process.pid)
        if self.reload_pending:
            # A SIGHUP came after it had read its configuration: it reloads now.
            self.reload_pending = False
            self.send(signal.SIGHUP)
        return True

    def uptime(self) -> float:
        """Seconds since the current process reported ready (0 if it never did)."""
        return time.monotonic() - self.ready_at if self.ready_at else 0.0

    async def until_exit(self) -> int:
        assert self.process is not None
        status = await self.process.wait()
        self.running = False
        return status

    def send(self, sig: int) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def orphan(self) -> None:
        """Close the worker's stdin: it stops at once, without draining."""
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()


class Workers:
    """The main process's workers 1..count-1. `start()` fails unless all report ready;
    then each is kept running until `stop()`. `exited(pid)` is told of every process that
    is gone (for its metrics)."""

    def __init__(
        self,
        count: int,
        command: Callable[[WorkerSlot], list[str]],
        env: dict[str, str],
        exited: Callable[[int], None],
        slot_freed: Callable[[WorkerSlot], None] = lambda slot: None,
    ) -> None:
        self._workers = [
            Worker(slot, command(slot), env)
            for slot in (WorkerSlot(index, count) for index in range(1, count))
        ]
        self._exited = exited
        self._slot_freed = slot_freed
        self._supervising: list[asyncio.Task[None]] = []

    def not_running(self) -> list[int]:
        """The workers that are not serving now (exited, restarting, or starting)."""
        return [w.slot.index for w in self._workers if not (w.running and w.alive)]

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None and w.alive]

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        for worker in self._workers:
            await worker.spawn()
        ready = await asyncio.gather(*(w.until_ready(timeout) for w in self._workers))
        for worker, ok in zip(self._workers, ready, strict=True):
            if not ok:
                status = await worker.until_exit()
                raise WorkerError(
                    f"gateway worker {worker.slot.index} did not start (exit status {status};"
                    " its own log line says why)"
                )
        loop = asyncio.get_running_loop()
        self._supervising = [loop.create_task(self._keep_running(w)) for w in self._workers]

    def signal(self, sig: int) -> None:
        """Forward `sig` to the workers that are running. A worker still starting gets a
        SIGHUP once it reports ready: it may have read its configuration before the change."""
        for worker in self._workers:
            if worker.running:
                worker.send(sig)
            elif sig == signal.SIGHUP and worker.alive:
                worker.reload_pending = True

    async def stop(self, drain: bool, grace: float) -> None:
        """Drain (SIGTERM) or stop at once (EOF) every worker; kill those still there after
        `grace` seconds."""
        for task in self._supervising:
            task.cancel()
        await asyncio.gather(*self._supervising, return_exceptions=True)
        live = [w for w in self._workers if w.alive]
        for worker in live:
            if drain:
                worker.send(signal.SIGTERM)
            else:
                worker.orphan()
        waiting = [asyncio.ensure_future(w.until_exit()) for w in live]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=grace)
            if late:
                for worker in live:
                    worker.send(signal.SIGKILL)
                await asyncio.wait(late)
        for worker in live:
            assert worker.process is not None
            self._exited(worker.process.pid)

    async def _keep_running(self, worker: Worker) -> None:
        crashes = 0
        while True:
            status = await worker.until_exit()
            assert worker.process is not None
            pid = worker.process.pid
            try:
                self._exited(pid)
                self._slot_freed(worker.slot)
            except OSError as exc:  # its files; supervision goes on regardless
                log("worker_metrics_cleanup_failed", level=logging.WARNING, error=str(exc))
            crashes = crashes_in_a_row(crashes, worker.uptime())
            log(
                "worker_exited",
                level=logging.WARNING,
                worker=worker.slot.index,
                pid=pid,
                status=status,
                restart_in=restart_delay(crashes),
            )
            await self._restart(worker, crashes)

    async def _restart(self, worker: Worker, crashes: int) -> None:
        """Start `worker` again after its backoff; while it cannot even be started (no
        executable, no file descriptors or processes left), keep trying, backing off."""
        while True:
            await asyncio.sleep(restart_delay(crashes))
            try:
                await worker.spawn()
            except Exception as exc:  # whatever it is, try again later
                crashes += 1
                log(
                    "worker_restart_failed",
                    level=logging.WARNING,
                    worker=worker.slot.index,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=restart_delay(crashes),
                )
                continue
            try:
                await worker.until_ready(START_TIMEOUT)  # if not, its exit is logged next
            except Exception as exc:  # e.g. an overlong line on its stdout
                log("worker_start_failed", level=logging.WARNING, error=str(exc))
                worker.send(signal.SIGKILL)
            return


# --- a worker process ---------------------------------------------------------------------


def announce_ready() -> None:
    """Tell the main process that this worker serves (see Worker.until_ready)."""
    fd = sys.stdout.fileno()
    os.write(fd, READY_LINE)
    # Nothing more is read from that pipe: stray output must not fill it and block us.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def watch_parent(gone: Callable[[], None]) -> None:
    """Call `gone` once stdin, the main process's pipe, reaches EOF: the main process has
    exited or given up on this worker."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 512)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            gone()

    loop.add_reader(fd, readable)


__all__ = [
    "WorkerError",
    "WorkerSlot",
    "Workers",
    "announce_ready",
    "crashes_in_a_row",
    "gateway_processes",
    "listen_address",
    "restart_delay",
    "shared_metrics_dir",
    "watch_parent",
    "worker_command",
    "worker_count",
]
