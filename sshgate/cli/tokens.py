"""`sshgate token create|list|revoke`: API tokens for bots."""

from __future__ import annotations

import re

import click

from sshgate.cli._help import Group
from sshgate.cli._output import emit, json_option, table
from sshgate.cli._user import call, logged_in


@click.group(cls=Group)
def token() -> None:
    """API tokens for bots (CI jobs); a token carries the amr of the login that created it."""


_DURATION = re.compile(r"([1-9][0-9]{0,9})([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """`90d`, `12h`, `30m`, `2w`, `45s` or plain seconds, as seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise click.BadParameter("expected a duration such as 90d, 12h, 30m or 3600")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@token.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(["certificate", "account"]),
    default="certificate",
    show_default=True,
    help="certificate: issue certificates and read whoami; account: all you may do"
    " (needs a login with MFA when you have MFA).",
)
@click.option(
    "--expires",
    metavar="DURATION",
    help="End the token after this long (90d, 12h, 30m, 2w); default: until revoked.",
)
@json_option
def create(name: str, scope: str, expires: str | None, as_json: bool) -> None:
    """Create a token named NAME; its secret is shown once."""
    body: dict[str, object] = {"name": name, "scope": scope}
    if expires is not None:
        body["expires_in"] = parse_duration(expires)
    answer = call(logged_in(), "POST", "/api/tokens", body)
    ends = f", expires {answer['expires_at']}" if answer.get("expires_at") else ""
    emit(
        as_json,
        {
            "id": answer["id"],
            "token": answer["token"],
            "name": answer["name"],
            "amr": answer["amr"],
            "scope": answer["scope"],
            "expires_at": answer.get("expires_at"),
        },
        [
            f"token {answer['id']} ({answer['name']}, scope: {answer['scope']},"
            f" amr: {','.join(answer['amr'])}{ends}):",
            f"  {answer['token']}",
            "It is shown only now. A bot logs in with: sshgate login --token-stdin",
        ],
    )


@token.command("list")
@json_option
def list_tokens(as_json: bool) -> None:
    """List your tokens."""
    items = call(logged_in(), "GET", "/api/tokens")["items"]
    rows = [
        [
            i["id"],
            i["name"],
            i.get("scope", "-"),
            ",".join(i["amr"]),
            i["created_at"],
            i.get("expires_at") or "-",
            i["last_used_at"] or "-",
        ]
        for i in items
    ]
    headers = ["ID", "NAME", "SCOPE", "AMR", "CREATED", "EXPIRES", "LAST USED"]
    prose = table(rows, headers) if rows else ["no tokens"]
    emit(as_json, {"items": items}, prose)


@token.command("revoke")
@click.argument("token_id")
@json_option
def revoke(token_id: str, as_json: bool) -> None:
    """Revoke token TOKEN_ID."""
    call(logged_in(), "DELETE", f"/api/tokens/{token_id}")
    emit(as_json, {"id": token_id, "revoked": True}, f"revoked token {token_id}")
