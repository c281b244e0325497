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
    help="Keep the demo's data here instead of a throw-away folder.",
)
def demo(check: bool, data_dir: Path | None) -> None:
    """Everything on loopback: an org requiring MFA, users with and without MFA, a project
    with an environment and a git repository; prints what to try."""
    import logging

    from sshgate.demo import SSHDError, run_demo
    from sshgate.logs import configure

    # The walkthrough's own lines are the output of --check; the gateway's log is noise there.
    configure("text", logging.WARNING if check else logging.INFO)
    try:
        status = asyncio.run(run_demo(data_dir, check, click.echo))
    except SSHDError as exc:
        raise Refusal(str(exc)) from None
    if status:
        raise SystemExit(status)
