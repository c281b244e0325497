"""`sshgate token create|list|revoke`: API tokens for bots."""

from __future__ import annotations

import click

from sshgate.cli._output import emit, json_option, table
from sshgate.cli._user import call, logged_in


@click.group()
def token() -> None:
    """API tokens for bots (CI jobs); a token carries the amr of the login that created it."""


@token.command("create")
@click.argument("name")
@json_option
def create(name: str, as_json: bool) -> None:
    """Create a token named NAME; its secret is shown once."""
    answer = call(logged_in(), "POST", "/api/tokens", {"name": name})
    emit(
        as_json,
        {
            "id": answer["id"],
            "token": answer["token"],
            "name": answer["name"],
            "amr": answer["amr"],
        },
        [
            f"token {answer['id']} ({answer['name']}, amr: {','.join(answer['amr'])}):",
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
        [i["id"], i["name"], ",".join(i["amr"]), i["created_at"], i["last_used_at"] or "-"]
        for i in items
    ]
    prose = table(rows, ["ID", "NAME", "AMR", "CREATED", "LAST USED"]) if rows else ["no tokens"]
    emit(as_json, {"items": items}, prose)


@token.command("revoke")
@click.argument("token_id")
@json_option
def revoke(token_id: str, as_json: bool) -> None:
    """Revoke token TOKEN_ID."""
    call(logged_in(), "DELETE", f"/api/tokens/{token_id}")
    emit(as_json, {"id": token_id, "revoked": True}, f"revoked token {token_id}")
