"""`sshgate demo [--check]`"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from sshgate.cli._output import Refusal


@click.command()
@click.option(
    "--check", is_flag=True, help="Run the walkthrough; exit 0 only if all of it behaved."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's data here (a new or empty folder) instead of a throw-away one.",
)
def demo(check: bool, data_dir: Path | None) -> None:
    """Everything on loopback: an org requiring MFA, users with and without MFA, a project
    with an environment and a git repository; prints what to try (log lines go to a file in
    the demo's folder)."""
    from sshgate.demo import LoginUserError, SSHDError, data_dir_refusal, run_demo

    if data_dir is not None:
        refusal = data_dir_refusal(data_dir)
        if refusal is not None:
            raise Refusal(refusal)
    try:
        status = asyncio.run(run_demo(data_dir, check, click.echo))
    except (SSHDError, LoginUserError) as exc:
        raise Refusal(str(exc)) from None
    if status:
        raise SystemExit(status)
