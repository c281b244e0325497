"""`sshgate login`, `logout`, `whoami`, `password change`."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import click

from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option, read_secret_stdin
from sshgate.cli._user import api_option, api_url, call, home, is_terminal, logged_in
from sshgate.client import (
    ApiError,
    LoginRequest,
    SSHConfigError,
    State,
    includes_snippet,
    log_in,
    remove_from_agent,
    still_valid,
)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Always log in anew (e.g. after enabling MFA).")
@click.option("--user", "username", help="Your username.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--totp", help="A TOTP code or a recovery code.")
@click.option("--token-stdin", is_flag=True, help="Log a bot in with an API token from stdin.")
@click.option(
    "--web",
    is_flag=True,
    help="Sign in through the browser (any factor, security keys and passkeys included).",
)
@click.option(
    "--device",
    is_flag=True,
    help="On a machine without a browser: approve a short code in a browser elsewhere.",
)
@api_option
@json_option
def login(
    force: bool,
    username: str | None,
    password_stdin: bool,
    totp: str | None,
    token_stdin: bool,
    web: bool,
    device: bool,
    api_url_option: str | None,
    as_json: bool,
) -> None:
    """Log in, get an SSH certificate, and write the OpenSSH config snippet."""
    previous = State.load(home())
    url = api_url(api_url_option, previous)
    token = read_secret_stdin("API token") if token_stdin else None
    password = None
    session = None
    if web or device:
        if token_stdin or password_stdin or totp or (web and device):
            raise click.UsageError(
                "--web and --device sign in through a browser: no password, code or token"
            )
        session = _browser_session(url, device)
    elif token is None:
        username = username or (previous.username if previous else None)
        if not username:
            if not is_terminal():
                raise Refusal("give --user NAME")
            username = click.prompt("Username")
        if password_stdin:
            password = read_secret_stdin("password")
        elif force or not still_valid(previous, username, url, time.time()):
            if not is_terminal():
                raise Refusal("give the password with --password-stdin")
            password = click.prompt("Password", hide_input=True)

    def ask_code() -> str | None:
        if not is_terminal():
            return None
        return str(click.prompt("Authentication code (TOTP or recovery code)"))

    try:
        result = log_in(
            home(),
            LoginRequest(url, username, password, totp, token, force or web or device, session),
            ask_code,
        )
    except (ApiError, SSHConfigError) as exc:
        raise Refusal(str(exc)) from None
    state = result.state
    included = ssh_config_includes_snippet(home())
    lines = [
        f"{'still logged in' if result.kept else 'logged in'} as {state.username}"
        f" (amr: {','.join(state.amr)}); certificate serial {state.serial}",
    ]
    if not included:
        lines += ["add this line to ~/.ssh/config (once):", f"  {result.include_line}"]
    emit(
        as_json,
        {
            "username": state.username,
            "amr": state.amr,
            "serial": state.serial,
            "kept": result.kept,
            "agent": result.in_agent,
            "include": result.include_line,
            "included": included,
        },
        lines,
    )


def _browser_session(url: str, device: bool) -> str:
    from sshgate.client import browser_session, device_session

    def announce(link: str) -> None:
        sys.stderr.write(f"Sign in to sshgate in your browser:\n  {link}\n")
        sys.stderr.flush()

    def announce_code(link: str, code: str) -> None:
        sys.stderr.write(f"In a browser, open\n  {link}\nand enter the code {code}\n")
        sys.stderr.flush()

    try:
        if device:
            return device_session(url, announce_code)
        return browser_session(url, announce)
    except ApiError as exc:
        raise Refusal(str(exc)) from None


def ssh_config_includes_snippet(sshgate_home: Path) -> bool:
    """Whether ~/.ssh/config already includes the snippet `sshgate login` writes."""
    user_home = Path.home()
    try:
        text = (user_home / ".ssh" / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return includes_snippet(text, sshgate_home / "ssh_config", user_home)


@click.command()
@json_option
def logout(as_json: bool) -> None:
    """End the login session (the API revokes its certificates), remove the key and
    certificate from a running ssh-agent, and remove the local key and certificate."""
    state = State.load(home())
    if state is not None and state.token and state.token_kind == "session":
        # The session may be gone already; the local state goes regardless.
        with contextlib.suppress(Refusal):
            call(state, "POST", "/api/auth/logout")
    in_agent = remove_from_agent(home())
    for name in ("id_ed25519", "id_ed25519.pub", "id_ed25519-cert.pub", "state.json"):
        (home() / name).unlink(missing_ok=True)
    emit(
        as_json,
        {"logged_out": True, "agent": in_agent},
        "logged out" + (" (key removed from ssh-agent)" if in_agent else ""),
    )


@click.command()
@json_option
def whoami(as_json: bool) -> None:
    """Show your user, orgs, projects, services and git remotes."""
    state = logged_in()
    account = call(state, "GET", "/api/account")
    access = call(state, "GET", "/api/me/access")
    lines = [
        f"{account['username']} ({account['id']}) <{account['email']}>",
        f"MFA: {'on' if account['mfa'] else 'off'}; this login: {','.join(account['amr'])}",
    ]
    for org in access.get("orgs", []):
        required = ", requires MFA" if org.get("mfa_required") else ""
        lines.append(f"org {org['name']}: {org['role']}{required}")
    for project in access.get("projects", []):
        lines.append(
            f"project {project['id']} ({project['title']}, {project['org']}): {project['role']}"
        )
        if project.get("git_remote"):
            lines.append(f"  git remote: {project['git_remote']}")
        for service in project.get("services", []):
            lines.append(f"  ssh {service}@{state.gateway_host}")
    emit(as_json, {**account, **access}, lines)


@click.group(cls=Group)
def password() -> None:
    """Your password."""


@password.command("change")
@click.option("--password-stdin", is_flag=True, help="Read old and new password, one per line.")
@json_option
def password_change(password_stdin: bool, as_json: bool) -> None:
    """Change your password; ends your login sessions and revokes your certificates."""
    state = logged_in()
    if password_stdin:
        old = sys.stdin.readline().rstrip("\r\n")
        new = sys.stdin.readline().rstrip("\r\n")
    elif is_terminal():
        old = click.prompt("Current password", hide_input=True)
        new = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        raise Refusal("give the passwords with --password-stdin (old, then new, one per line)")
    result = call(
        state, "POST", "/api/account/password", {"old_password": old, "new_password": new}
    )
    emit(as_json, result or {}, "password changed; log in again: sshgate login -f")
