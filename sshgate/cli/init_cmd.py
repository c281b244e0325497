"""`sshgate init --data-dir DIR`"""

from __future__ import annotations

from pathlib import Path

import click

from sshgate.ca import CAError
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.datadir import InitError, initialize


@click.command()
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@json_option
def init(data_dir: Path, as_json: bool) -> None:
    """Create keys, the database and DIR/config.toml with loopback defaults."""
    try:
        config_path = initialize(data_dir)
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
