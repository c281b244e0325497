"""`sshgate serve`: one asyncio process running the gateway and/or the API and CA.

Roles: `gateway` never loads the user CA's private keys (it signs only its own upstream
certificates); `api` runs the API and the CA; `all` runs both, the embedded setup.
SIGHUP reloads configuration and keys, SIGTERM drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from sshgate.api.serve import ApiHandle, ApiStartupError, start_api
from sshgate.ca.keys import KeyDir, fingerprint
from sshgate.config import Config, load_config
from sshgate.health import HealthServer, start_health_server
from sshgate.logs import log
from sshgate.private_files import PrivateFileError, read_private_file
from sshgate.ssh_gateway.gateway import Gateway
from sshgate.ssh_gateway.upstream import UpstreamSigner
from sshgate.store import Store, StoreError, open_store

ROLES = ("all", "gateway", "api")
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
    config: Config | None = None
    store: Store | None = None
    gateway: Gateway | None = None
    api: ApiHandle | None = None
    health: HealthServer | None = None
    ca_ready: bool = False
    _not_ready: str | None = None  # why /readyz said 503 last, for logging changes only
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        if self.role not in ROLES:
            raise StartupError(f"unknown role {self.role!r}")
        self.config = config = load_config(self.config_path)
        self.store = await open_store(config.storage.url, str(config.base_dir))
        if self.role in ("all", "api"):
            KeyDir(config.ca.key_dir).active()  # the CA role needs its signing key
            await publish_ca_keys(config, self.store)
            self.ca_ready = True
        if self.role in ("all", "gateway"):
            host_keys = [read_private_key_file(p) for p in config.gateway.host_key_files]
            upstream_ca = read_private_key_file(config.gateway.upstream_ca_key_file)
            self.gateway = Gateway(config, self.store, host_keys, UpstreamSigner(upstream_ca))
            await self.gateway.start()
        if self.role in ("all", "api"):
            try:
                self.api = await start_api(config, self.store)
            except ApiStartupError as exc:
                raise StartupError(str(exc)) from None
        self.health = await start_health_server(config.metrics.listen, self.ready)
        log(
            "ready",
            role=self.role,
            gateway=config.gateway.listen if self.gateway else None,
            api=config.api.listen if self.api else None,
            metrics=config.metrics.listen,
        )

    async def ready(self) -> bool:
        """/readyz: the store answers and this role's keys are loaded; not while draining.

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
        """SIGHUP: new configuration and keys for new connections; open sessions stay."""
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
            log("reload_failed", error=str(exc))

    async def stop(self, drain: bool) -> None:
        if self.api is not None:
            await self.api.stop()
        if self.gateway is not None:
            timeout = float(self.config.gateway.drain_timeout) if self.config and drain else 0.0
            await self.gateway.drain(timeout)
        if self.health is not None:
            await self.health.close()
        if self.store is not None:
            await self.store.close()

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        loop.add_signal_handler(
            signal.SIGHUP,
            lambda: loop.create_task(self.reload()),
        )
        await self._stopping.wait()
        log("draining")
        await self.stop(drain=True)
        log("stopped")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)


async def serve(config_path: str | None, role: str) -> None:
    runtime = Runtime(config_path, role)
    try:
        await runtime.start()
    except BaseException:
        await runtime.stop(drain=False)
        raise
    await runtime.run_until_signalled()
