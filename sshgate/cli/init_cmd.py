"""`sshgate init --data-dir DIR`"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sshgate.ca import CAError
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.config import ConfigError, split_host_port
from sshgate.datadir import InitError, initialize

F = TypeVar("F", bound=Callable[..., Any])
# What may stand in the written config.toml: a host name, an IPv4 or a bracketed IPv6 address.
_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")


def listen_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`HOST:PORT` for a `*.listen` key, with a port from 1 to 65535."""
    try:
        _, port = split_host_port(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    if not _HOST.fullmatch(value.rpartition(":")[0]) or port == 0:
        raise click.BadParameter(f"expected HOST:PORT with a port from 1 to 65535, got {value!r}")
    return value


def listen_option(name: str, default: str, what: str) -> Callable[[F], F]:
    return click.option(
        f"--{name}-listen",
        default=default,
        show_default=True,
        metavar="HOST:PORT",
        callback=listen_address,
        help=f"{what} ({name}.listen).",
    )


@click.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@listen_option("gateway", "127.0.0.1:2222", "Where the SSH gateway listens")
@listen_option("api", "127.0.0.1:8022", "Where the HTTP API listens")
@listen_option("metrics", "127.0.0.1:9122", "Where /metrics, /healthz and /readyz answer")
@json_option
def init(
    data_dir: Path, gateway_listen: str, api_listen: str, metrics_listen: str, as_json: bool
) -> None:
    """Create keys, the database and DIR/config.toml with loopback defaults. Two
    deployments on one host need other ports for the second: --gateway-listen,
    --api-listen, --metrics-listen."""
    listens = (gateway_listen, api_listen, metrics_listen)
    if len(set(listens)) < len(listens):
        raise click.UsageError("--gateway-listen, --api-listen and --metrics-listen must differ")
    try:
        config_path = initialize(data_dir, *listens)
    except (InitError, CAError) as exc:
        raise Refusal(str(exc)) from None
    upstream_pub = config_path.parent / "upstream_ca.pub"
    emit(
        as_json,
        {"config": str(config_path), "upstream_ca_public_key": str(upstream_pub)},
        [
            f"wrote {config_path}",
            f"environments trust the gateway with: TrustedUserCAKeys {upstream_pub}",
            f"start it with: sshgate serve --config {config_path}",
        ],
    )
