"""`sshgate admin user ...`"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import click

from sshgate.accounts import PasswordPolicyError, hash_password
from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option, read_secret_stdin
from sshgate.cli._server import config_option, refused_input, run
from sshgate.policy import User
from sshgate.services import Operator, check_new_user


@click.group(cls=Group)
def user() -> None:
    """Add, disable, enable users; reset their MFA or password."""


def _password_hash(password_stdin: bool) -> str:
    """The new password's hash: from stdin with --password-stdin, else asked twice on a
    terminal; without either, a usage error."""
    if password_stdin:
        password = read_secret_stdin("password")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise click.UsageError("no password: pass --password-stdin with it on standard input")
    try:
        return hash_password(password)
    except PasswordPolicyError as exc:
        raise Refusal(str(exc)) from None


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (else it is asked for on a terminal).",
)


@user.command("add")
@click.argument("name")
@click.option("--email", required=True)
@password_stdin_option
@config_option
@json_option
def add(
    name: str, email: str, password_stdin: bool, config_path: str | None, as_json: bool
) -> None:
    """Create user NAME."""
    with refused_input():
        check_new_user(name, email)
    password_hash = _password_hash(password_stdin)
    created = run(
        config_path, lambda _, store: Operator(store).add_user(name, email, password_hash)
    )
    emit(as_json, {"id": created.id}, f"created user {name} ({created.id})")


def _state_command(
    verb: str, describe: str, doc: str, change: Callable[[Operator, str], Awaitable[User]]
) -> click.Command:
    @click.argument("name")
    @config_option
    @json_option
    def command(name: str, config_path: str | None, as_json: bool) -> None:
        changed = run(config_path, lambda _, store: change(Operator(store), name))
        emit(as_json, {"id": changed.id, "username": name}, f"{describe} {name}")

    command.__doc__ = doc
    return click.command(verb)(command)


user.add_command(
    _state_command(
        "disable",
        "disabled",
        "Disable user NAME: their login sessions end and their certificates are revoked.",
        Operator.disable_user,
    )
)
user.add_command(
    _state_command("enable", "enabled", "Enable user NAME again.", Operator.enable_user)
)
user.add_command(
    _state_command(
        "mfa-reset",
        "reset MFA of",
        "Turn off user NAME's MFA (a lost authenticator): their sessions and API tokens end.",
        Operator.reset_mfa,
    )
)


@user.command("password-reset")
@click.argument("name")
@password_stdin_option
@config_option
@json_option
def password_reset(name: str, password_stdin: bool, config_path: str | None, as_json: bool) -> None:
    """Set a new password for NAME; ends their sessions and revokes their certificates."""
    password_hash = _password_hash(password_stdin)
    reset = run(config_path, lambda _, store: Operator(store).reset_password(name, password_hash))
    emit(as_json, {"id": reset.id, "username": name}, f"password of {name} reset")
