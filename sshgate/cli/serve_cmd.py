"""`sshgate serve [--role all|gateway|api]`"""

from __future__ import annotations

import asyncio

import click

from sshgate.ca.errors import CAError
from sshgate.cli._output import Refusal
from sshgate.cli._server import config_option, load
from sshgate.config import ConfigError
from sshgate.logs import configure
from sshgate.runtime import ROLES, StartupError
from sshgate.runtime import serve as run_server
from sshgate.store import StoreError


@click.command()
@click.option("--role", type=click.Choice(ROLES), default="all", show_default=True)
@config_option
def serve(role: str, config_path: str | None) -> None:
    """Run the gateway and/or the API; logs one `ready` line when every listener is up."""
    config = load(config_path)
    configure(config.log.format)
    try:
        _run(run_server(config_path, role))
    except (StartupError, ConfigError, StoreError, CAError, OSError) as exc:
        raise Refusal(f"cannot start: {exc}") from None


def _run(main: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional on some platforms
        asyncio.run(main)  # type: ignore[arg-type]
        return
    uvloop.run(main)  # type: ignore[arg-type]
