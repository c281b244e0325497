"""`sshgate admin user ...`"""

from __future__ import annotations

import sys

import click

from sshgate.accounts import PasswordPolicyError, hash_password
from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option, read_secret_stdin
from sshgate.cli._server import config_option, run
from sshgate.cli.admin._common import audit_admin
from sshgate.config import Config
from sshgate.policy import USERNAME
from sshgate.services import Operator
from sshgate.store import ConflictError, Store


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
    if not USERNAME.fullmatch(name):
        raise Refusal(f"invalid username {name!r}: expected ^[a-z][a-z0-9._-]{{1,38}}$")
    if "@" not in email or len(email) > 254:
        raise Refusal(f"invalid email address {email!r}")
    password_hash = _password_hash(password_stdin)

    async def action(config: Config, store: Store) -> str:
        try:
            created = await store.create_user(name, email, password_hash)
        except ConflictError:
            raise Refusal(f"user {name!r} already exists") from None
        await audit_admin(store, "user-add", name)
        return created.id

    user_id = run(config_path, action)
    emit(as_json, {"id": user_id}, f"created user {name} ({user_id})")


def _state_command(verb: str, describe: str, doc: str) -> click.Command:
    @click.argument("name")
    @config_option
    @json_option
    def command(name: str, config_path: str | None, as_json: bool) -> None:
        async def action(config: Config, store: Store) -> str:
            operator = Operator(store)
            change = {
                "disable": operator.disable_user,
                "enable": operator.enable_user,
                "mfa-reset": operator.reset_mfa,
            }[verb]
            return (await change(name)).id

        user_id = run(config_path, action)
        emit(as_json, {"id": user_id, "username": name}, f"{describe} {name}")

    command.__doc__ = doc
    return click.command(verb)(command)


user.add_command(
    _state_command(
        "disable",
        "disabled",
        "Disable user NAME: their login sessions end and their certificates are revoked.",
    )
)
user.add_command(_state_command("enable", "enabled", "Enable user NAME again."))
user.add_command(
    _state_command(
        "mfa-reset",
        "reset MFA of",
        "Turn off user NAME's MFA (a lost authenticator): their sessions and API tokens end.",
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

    async def action(config: Config, store: Store) -> str:
        return (await Operator(store).reset_password(name, password_hash)).id

    user_id = run(config_path, action)
    emit(as_json, {"id": user_id, "username": name}, f"password of {name} reset")
