"""`sshgate serve`: one asyncio process running the gateway and/or the API and CA.

Roles: `gateway` never loads the user CA's private keys (it signs only its own upstream
certificates); `api` runs the API and the CA; `all` runs both, the embedded setup.
SIGHUP reloads configuration and keys, SIGTERM drains.

With `gateway.workers` > 1 the process of role all or gateway also starts and supervises
gateway worker processes (`sshgate.workers`); each worker is a Runtime of role gateway with
its `worker` slot set: a gateway only, announced to the main process rather than logged
`ready`, and stopped when the main process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from prometheus_client import CollectorRegistry

from sshgate import metrics
from sshgate.api import ApiHandle, ApiStartupError, start_api
from sshgate.ca import KeyDir, fingerprint
from sshgate.config import ROLES, Config, load_config, split_host_port
from sshgate.health import HealthServer, start_health_server
from sshgate.logs import log
from sshgate.private_files import PrivateFileError, read_private_file
from sshgate.ssh_gateway import (
    AdmissionTable,
    AdmissionTableError,
    Gateway,
    SharedAdmission,
    UpstreamSigner,
    capacity_for,
)
from sshgate.store import Store, StoreError, open_store
from sshgate.workers import (
    METRICS_DIR_ENV,
    STOP_MARGIN,
    WorkerError,
    Workers,
    WorkerSlot,
    announce_ready,
    listen_address,
    watch_parent,
    worker_command,
)

READY_STORE_TIMEOUT = 2.0  # seconds; below sshgate.health.READY_TIMEOUT


class StartupError(Exception):
    """A key, the store or a listener cannot be set up; the message says which."""


def read_private_key_file(path: Path) -> asyncssh.SSHKey:
    """Load an asyncssh private key, refusing a file readable by group or others."""
    try:
        data = read_private_file(path, 64 * 1024, "key file")
    except PrivateFileError as exc:
        raise StartupError(str(exc)) from None
    try:
        return asyncssh.import_private_key(data)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise StartupError(f"{path}: not a usable private key ({type(exc).__name__})") from None


async def publish_ca_keys(config: Config, store: Store) -> None:
    """Record the key folder's CA public keys in the store, where every gateway reads them."""
    keydir = KeyDir(config.ca.key_dir)
    for line in keydir.public_keys():
        await store.record_ca_key(fingerprint(line), line, _added_at(keydir, line))


def _added_at(keydir: KeyDir, line: str) -> float:
    for pub in keydir.public_key_files():
        if pub.read_text(encoding="utf-8").strip() == line.strip():
            return pub.stat().st_mtime
    return 0.0


@dataclass
class Runtime:
    config_path: str | None
    role: str = "all"
    # Gateway processes sharing gateway.listen, this one included (see sshgate.workers),
    # and the folder their metrics share (PROMETHEUS_MULTIPROC_DIR) when there are several.
    processes: int = 1
    metrics_folder: str | None = None
    worker: WorkerSlot | None = None  # set in a worker process
    config: Config | None = None
    store: Store | None = None
    gateway: Gateway | None = None
    workers: Workers | None = None
    admission_table: AdmissionTable | None = None  # the limits' counts, with workers
    api: ApiHandle | None = None
    health: HealthServer | None = None
    ca_ready: bool = False
    _not_ready: str | None = None  # why /readyz said 503 last, for logging changes only
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _drain: bool = True  # whether stopping drains open sessions
    _signals_handled: bool = False
    _running: bool = False  # started, and waiting for a signal
    _reload_pending: bool = False  # a SIGHUP came while starting

    async def start(self) -> None:
        if self.role not in ROLES:
            raise StartupError(f"unknown role {self.role!r}")
        if self.worker is not None and self.role != "gateway":
            raise StartupError("a gateway worker runs the gateway role only")
        self.config = config = load_config(self.config_path)
        self.store = await open_store(config.storage.url, str(config.base_dir))
        if self.role in ("all", "api"):
            KeyDir(config.ca.key_dir).active()  # the CA role needs its signing key
            await publish_ca_keys(config, self.store)
            self.ca_ready = True
        if self.role in ("all", "gateway"):
            host_keys = [read_private_key_file(p) for p in config.gateway.host_key_files]
            upstream_ca = read_private_key_file(config.gateway.upstream_ca_key_file)
            signer = UpstreamSigner(upstream_ca)
            self.gateway = Gateway(
                config, self.store, host_keys, signer, self.processes, self._shared_admission()
            )
            await self.gateway.start()
        if self.role in ("all", "api"):
            try:
                self.api = await start_api(config, self.store)
            except ApiStartupError as exc:
                raise StartupError(str(exc)) from None
        if self.worker is not None:
            return  # announced to the main process once signals are handled
        if self.gateway is not None and self.processes > 1:
            await self._start_workers(self.gateway)
        self.health = await start_health_server(
            config.metrics.listen, self.ready, self._metrics_registry()
        )
        log(
            "ready",
            role=self.role,
            gateway=config.gateway.listen if self.gateway else None,
            api=config.api.listen if self.api else None,
            metrics=config.metrics.listen,
            **({"workers": self.processes} if self.workers else {}),
        )

    def _shared_admission(self) -> SharedAdmission | None:
        """With several gateway processes, the one table they all count connections in:
        the main process creates it in their shared folder, a worker attaches to it and
        clears what a predecessor in its slot may have left."""
        if self.processes <= 1:
            return None
        assert self.config is not None
        try:
            if self.worker is None:
                if self.metrics_folder is None:
                    raise StartupError("gateway workers need a shared folder")
                capacity = capacity_for(self.config.gateway.max_unauthenticated)
                table = AdmissionTable.create(self.metrics_folder, self.processes, capacity)
                index = 0
            else:
                table = AdmissionTable.attach(os.environ.get(METRICS_DIR_ENV, ""))
                index = self.worker.index
                table.clear(index)
        except (OSError, AdmissionTableError) as exc:
            raise StartupError(f"shared connection limits: {exc}") from None
        self.admission_table = table
        return SharedAdmission(table, index)

    async def _start_workers(self, gateway: Gateway) -> None:
        """Start workers 1..processes-1 on this gateway's address; all must report ready."""
        assert self.config is not None
        folder = self.metrics_folder
        if folder is None:
            raise StartupError("gateway workers need a shared metrics folder")
        host = split_host_port(self.config.gateway.listen)[0]
        env = {
            **os.environ,
            # Where this process listens and which store it uses, even if the file has
            # changed since it started: a worker restarted later must not serve elsewhere or
            # from another database (both take a restart of `serve` to change).
            "SSHGATE_GATEWAY_LISTEN": listen_address(host, gateway.port),
            "SSHGATE_STORAGE_URL": self.config.storage.url,
            METRICS_DIR_ENV: folder,
        }
        self.workers = Workers(
            self.processes,
            lambda slot: worker_command(slot, self.config_path),
            env,
            lambda pid: metrics.process_exited(pid, folder),
            self._worker_gone,
        )
        try:
            await self.workers.start()
        except WorkerError as exc:
            raise StartupError(str(exc)) from None

    def _worker_gone(self, slot: WorkerSlot) -> None:
        """What an exited worker counted against the limits no longer counts."""
        if self.admission_table is not None:
            self.admission_table.clear(slot.index)

    def _metrics_registry(self) -> CollectorRegistry:
        if self.workers is not None and self.metrics_folder is not None:
            return metrics.all_processes(self.metrics_folder)
        return metrics.REGISTRY

    async def ready(self) -> bool:
        """/readyz: the store answers, this role's keys are loaded and every gateway worker
        is running; not while draining.

        A lost store (the PostgreSQL server down or unreachable) makes it 503, so the load
        balancer takes this process out of its pool while it would only refuse; the change
        is logged once each way (`readiness`), not at every probe."""
        if self.store is None or (self.gateway is not None and self.gateway.draining):
            return False
        try:
            # Within /readyz's own time limit, so a silent database is reported too.
            await asyncio.wait_for(self.store.ping(), READY_STORE_TIMEOUT)
        except (StoreError, TimeoutError) as exc:
            self._readiness("store-unavailable", str(exc) or "no answer")
            return False
        down = self.workers.not_running() if self.workers is not None else []
        if down:
            self._readiness("worker-not-running", "worker " + ",".join(map(str, down)))
            return False
        self._readiness(None)
        if self.role in ("all", "api") and not self.ca_ready:
            return False
        return self.gateway is None or bool(self.gateway.host_keys)

    def _readiness(self, problem: str | None, error: str = "") -> None:
        if problem == self._not_ready:
            return
        self._not_ready = problem
        if problem is None:
            log("readiness", state="ready")
        else:
            log("readiness", level=logging.WARNING, state="not-ready", reason=problem, error=error)

    async def reload(self) -> None:
        """SIGHUP: new configuration and keys for new connections; open sessions stay.
        Workers get the signal too and reload themselves."""
        if self.workers is not None:
            self.workers.signal(signal.SIGHUP)
        try:
            config = load_config(self.config_path)
            if self.gateway is not None:
                await self.gateway.reload(
                    config,
                    [read_private_key_file(p) for p in config.gateway.host_key_files],
                    UpstreamSigner(read_private_key_file(config.gateway.upstream_ca_key_file)),
                )
            if self.store is not None and self.role in ("all", "api"):
                await publish_ca_keys(config, self.store)
            self.config = config
            log("reloaded")
        except Exception as exc:  # a bad reload keeps the running configuration
            log("reload_failed", logging.ERROR, error=str(exc))

    async def stop(self, drain: bool) -> None:
        timeout = float(self.config.gateway.drain_timeout) if self.config and drain else 0.0
        workers_stopped = None
        if self.workers is not None:
            # They drain (or stop) beside this process's own gateway.
            stopping = self.workers.stop(drain, timeout + STOP_MARGIN)
            workers_stopped = asyncio.get_running_loop().create_task(stopping)
        if self.api is not None:
            await self.api.stop()
        if self.gateway is not None:
            await self.gateway.drain(timeout)
        if workers_stopped is not None:
            await workers_stopped
        if self.health is not None:
            await self.health.close()
        if self.store is not None:
            await self.store.close()

    def handle_signals(self) -> None:
        """From now on SIGTERM and SIGINT stop (drain) and SIGHUP reloads; idempotent. A
        signal that arrives while `start()` runs is acted on once it is done, so that a
        `systemctl reload` or `stop` during a slow start (gateway workers have a minute to
        report ready) neither kills the process outright nor is lost."""
        if self._signals_handled:
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._hangup)
        self._signals_handled = True

    def _hangup(self) -> None:
        if self._running:
            asyncio.get_running_loop().create_task(self.reload())
        else:
            self._reload_pending = True

    def release_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
        self._signals_handled = False

    async def run_until_signalled(self) -> None:
        self.handle_signals()
        self._running = True
        if self._reload_pending:
            self._reload_pending = False
            asyncio.get_running_loop().create_task(self.reload())
        if self.worker is not None:
            watch_parent(self._parent_gone)
            announce_ready()
        await self._stopping.wait()
        if self._drain:
            log("draining")
        await self.stop(drain=self._drain)
        log("stopped")
        self.release_signals()

    def _parent_gone(self) -> None:
        """A worker whose main process is gone stops at once: nothing supervises it now."""
        log("main_process_gone", level=logging.WARNING)
        self._drain = False
        self._stopping.set()


async def serve(
    config_path: str | None,
    role: str,
    processes: int = 1,
    metrics_folder: str | None = None,
    worker: WorkerSlot | None = None,
) -> None:
    runtime = Runtime(config_path, role, processes, metrics_folder, worker)
    runtime.handle_signals()
    try:
        await runtime.start()
    except BaseException:
        await runtime.stop(drain=False)
        runtime.release_signals()
        raise
    await runtime.run_until_signalled()
