"""`sshgate mfa setup|verify|remove-app|disable|recovery-codes`"""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option, read_secret_stdin
from sshgate.cli._user import call, is_terminal, logged_in

AFTER_ENABLING = (
    "MFA is on. Refresh your credentials so your certificate carries it: sshgate login -f"
)
CODES_KEPT = (
    "Your recovery codes are unchanged (your MFA was already on with security keys);"
    " new ones: sshgate mfa recovery-codes"
)


@click.group(cls=Group)
def mfa() -> None:
    """Multifactor authentication with an authenticator app (TOTP).

    A user whose MFA is on through security keys may add an app too (from a login with
    MFA: sshgate login --web); their recovery codes are kept."""


@mfa.command("setup")
@json_option
def setup(as_json: bool) -> None:
    """Set up application: show the secret, URI and QR code, then ask for a code."""
    state = logged_in()
    answer = call(state, "POST", "/api/account/mfa/setup")
    if as_json:
        emit(True, {"secret": answer["secret"], "otpauth_uri": answer["otpauth_uri"]}, "")
        return
    from sshgate.accounts import terminal_qr

    click.echo("Scan this QR code with your authenticator app:")
    click.echo(terminal_qr(answer["otpauth_uri"]))
    click.echo(f"or enter this secret: {answer['secret']}")
    click.echo(f"({answer['otpauth_uri']})")
    if not is_terminal():
        click.echo("Then: sshgate mfa verify CODE")
        return
    code = click.prompt("Verify & save: the 6-digit code from the app")
    _verify(code, as_json=False)


@mfa.command("verify")
@click.argument("code")
@json_option
def verify(code: str, as_json: bool) -> None:
    """Verify & save: enable MFA with one correct code from the app."""
    _verify(code, as_json)


def _verify(code: str, as_json: bool) -> None:
    state = logged_in()
    answer = call(state, "POST", "/api/account/mfa/verify", {"code": code})
    codes = list(answer["recovery_codes"])
    shown = [
        "Recovery codes (each works once; keep them somewhere safe):",
        *(f"  {c}" for c in codes),
    ]
    emit(
        as_json,
        {"mfa": True, "recovery_codes": codes},
        [*(shown if codes else [CODES_KEPT]), AFTER_ENABLING],
    )


def _password_and_code(password_stdin: bool, code: str | None) -> tuple[str, str]:
    """The password (stdin or prompt) and a current code (option or prompt)."""
    if password_stdin:
        password = read_secret_stdin("password")
    elif is_terminal():
        password = click.prompt("Password", hide_input=True)
    else:
        raise Refusal("give the password with --password-stdin")
    if not code:
        if not is_terminal():
            raise Refusal("give a current code with --code CODE")
        code = click.prompt("Authentication code")
    return password, code


@mfa.command("remove-app")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--code", help="A current TOTP code or a recovery code.")
@json_option
def remove_app(password_stdin: bool, code: str | None, as_json: bool) -> None:
    """Remove the authenticator app; MFA stays on while a security key is left."""
    state = logged_in()
    password, code = _password_and_code(password_stdin, code)
    answer = call(
        state, "POST", "/api/account/mfa/remove-app", {"password": password, "code": code}
    )
    on = bool(answer["mfa"])
    emit(
        as_json,
        answer,
        "The authenticator app was removed; your security keys keep MFA on"
        if on
        else "The authenticator app was removed and MFA is off; your login sessions ended",
    )


@mfa.command("disable")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--code", help="A current TOTP code or a recovery code.")
@json_option
def disable(password_stdin: bool, code: str | None, as_json: bool) -> None:
    """Disable MFA (asks for your password and a current code)."""
    state = logged_in()
    password, code = _password_and_code(password_stdin, code)
    answer = call(state, "POST", "/api/account/mfa/disable", {"password": password, "code": code})
    emit(as_json, answer or {"mfa": False}, "MFA is off; your login sessions ended")


@mfa.command("recovery-codes")
@click.option("--code", help="A current TOTP code.")
@json_option
def recovery_codes(code: str | None, as_json: bool) -> None:
    """Replace your recovery codes with 10 new ones."""
    state = logged_in()
    if not code:
        if not is_terminal():
            raise Refusal("give a current code with --code CODE")
        code = click.prompt("Authentication code")
    answer = call(state, "POST", "/api/account/mfa/recovery-codes", {"code": code})
    codes = list(answer["recovery_codes"])
    emit(as_json, {"recovery_codes": codes}, ["New recovery codes:", *(f"  {c}" for c in codes)])
