"""The `sshgate` command group. Subcommands load lazily, so each command pays only for its
own imports."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sshgate import __version__
from sshgate.cli._help import Group

# command name -> (module, attribute); loaded only when that command runs or lists help.
_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("sshgate.cli.init_cmd", "init"),
    "serve": ("sshgate.cli.serve_cmd", "serve"),
    "demo": ("sshgate.cli.demo_cmd", "demo"),
    "admin": ("sshgate.cli.admin", "admin"),
    "login": ("sshgate.cli.account", "login"),
    "logout": ("sshgate.cli.account", "logout"),
    "whoami": ("sshgate.cli.account", "whoami"),
    "password": ("sshgate.cli.account", "password"),
    "mfa": ("sshgate.cli.mfa", "mfa"),
    "cert": ("sshgate.cli.cert", "cert"),
    "token": ("sshgate.cli.tokens", "token"),
    "org": ("sshgate.cli.org", "org"),
}


class LazyGroup(Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        command: click.Command = getattr(importlib.import_module(target[0]), target[1])
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sshgate")
def cli() -> None:
    """sshgate: SSH certificates with an MFA claim, and a gateway that enforces it."""


def run(args: list[str]) -> None:
    from sshgate.cli._output import Refusal

    try:
        status = cli.main(args=args, prog_name="sshgate", standalone_mode=False)
        if isinstance(status, int) and status:
            sys.exit(status)
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except click.UsageError as exc:
        # click lists a choice's values one a line: a usage error is one line here.
        message = " ".join(exc.format_message().split())
        _fail(f"{message} (see: sshgate {_path(exc)}--help)", 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except Refusal as exc:
        if exc.bare:
            sys.stderr.write(f"{exc}\n")
            sys.exit(exc.exit_code)
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as exc:  # a file or a connection: its name and the system's reason
        if _debug():
            raise
        _fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc), 1)
    except Exception as exc:  # never a traceback; the one line names the failure
        if _debug():
            raise
        _fail(f"{type(exc).__name__}: {exc}", 1)
    sys.exit(0)


def _path(exc: click.UsageError) -> str:
    ctx: Any = exc.ctx
    if ctx is None:
        return ""
    parts = ctx.command_path.split()[1:]
    return " ".join(parts) + " " if parts else ""


def _debug() -> bool:
    import os

    return os.environ.get("SSHGATE_DEBUG") == "1"


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"sshgate: {message}\n")
    sys.exit(code)
