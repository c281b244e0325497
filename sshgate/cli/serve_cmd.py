"""`sshgate serve [--role all|gateway|api]`"""

from __future__ import annotations

import asyncio

import click

from sshgate.ca import CAError
from sshgate.cli._output import Refusal
from sshgate.cli._server import config_option, load
from sshgate.config import ROLES, ConfigError
from sshgate.logs import configure
from sshgate.store import StoreError
from sshgate.workers import WorkerError, WorkerSlot, gateway_processes, shared_metrics_dir


@click.command()
@click.option("--role", type=click.Choice(ROLES), default="all", show_default=True)
# Internal: how the main process starts its gateway workers (see sshgate.workers).
@click.option("--worker", "worker_slot", default=None, hidden=True)
@config_option
def serve(role: str, worker_slot: str | None, config_path: str | None) -> None:
    """Run the gateway and/or the API; logs one `ready` line when every listener is up."""
    config = load(config_path)
    worker = _slot(worker_slot)
    configure(config.log.format, process_fields={"worker": worker.index} if worker else None)
    processes = worker.count if worker else gateway_processes(config.gateway.workers, role)
    try:
        # The main process of several sets up the shared metrics folder before anything
        # imports prometheus_client, which sshgate.runtime does.
        with shared_metrics_dir(processes > 1 and worker is None) as metrics_folder:
            from sshgate import runtime

            try:
                _run(runtime.serve(config_path, role, processes, metrics_folder, worker))
            except runtime.StartupError as exc:
                raise Refusal(f"cannot start: {exc}") from None
    except (WorkerError, ConfigError, StoreError, CAError, OSError) as exc:
        raise Refusal(f"cannot start: {exc}") from None


def _slot(text: str | None) -> WorkerSlot | None:
    if text is None:
        return None
    try:
        return WorkerSlot.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--worker") from None


def _run(main: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional on some platforms
        asyncio.run(main)  # type: ignore[arg-type]
        return
    uvloop.run(main)  # type: ignore[arg-type]
