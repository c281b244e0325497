"""`sshgate org security|mfa-required|remind`: what organization owners and admins do,
through the API with the user's own login.

When the org requires MFA and this login lacks it, the API answers 401
insufficient_user_authentication; the command then prints the contract's message as it is,
on stderr, and exits 1.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

import click

from sshgate.cli._help import Group
from sshgate.cli._level import (
    factor_words,
    level_option,
    switched_json,
    switched_line,
)
from sshgate.cli._output import emit, json_option, table
from sshgate.cli._user import call, logged_in
from sshgate.policy import closing_words

SECURITY_KEYS = ("username", "email", "role", "mfa", "factors", "mfa_since", "last_reminded")


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return call(logged_in(), method, path, body)


def _org_path(name: str, what: str) -> str:
    return f"/api/orgs/{quote(name, safe='')}/{what}"


@click.group(cls=Group)
def org() -> None:
    """Your organizations' security: who has MFA, the "MFA required" switch, reminders
    (owners and admins)."""


@org.command("security")
@click.argument("name")
@json_option
def security(name: str, as_json: bool) -> None:
    """List the members of NAME with their MFA status and last reminder."""
    items = _call("GET", _org_path(name, "security"))["items"]
    items = [{key: item.get(key) for key in SECURITY_KEYS} for item in items]
    rows = [
        [
            i["username"],
            i["email"],
            i["role"],
            "on" if i["mfa"] else "off",
            factor_words(i["factors"] or []),
            i["mfa_since"] or "-",
            i["last_reminded"] or "-",
        ]
        for i in items
    ]
    without = sum(1 for i in items if not i["mfa"])
    prose = table(rows, ["USER", "EMAIL", "ROLE", "MFA", "FACTORS", "MFA SINCE", "LAST REMINDED"])
    summary = f"{without} of {len(items)} members without MFA"
    if without:
        summary += f"; remind them: sshgate org remind {name} --all"
    emit(as_json, {"items": items}, [*prose, summary] if items else ["no members"])


@org.command("mfa-required")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@level_option
@json_option
def mfa_required(name: str, state: str, level: str, as_json: bool) -> None:
    """Switch "MFA required" of NAME on or off. On needs the advanced-user-management
    add-on and MFA on your own account; --level phishing-resistant (only security keys and
    passkeys count) also needs your own login to have used one (sshgate login --web)."""
    body = {"required": state == "on", "level": level}
    answer = _call("PUT", _org_path(name, "mfa-required"), body)
    closing = int(answer["sessions_to_close"])
    level = str(answer.get("mfa_level", "any"))
    prose = [switched_line(answer["org"], state, level)]
    if answer["mfa_required"]:
        prose.append(closing_words(closing, level))
    emit(as_json, switched_json(answer["org"], answer["mfa_required"], level, closing), prose)


@org.command("remind")
@click.argument("name")
@click.option("--user", "users", multiple=True, metavar="NAME", help="A member to remind.")
@click.option("--all", "everyone", is_flag=True, help="Every member without MFA.")
@click.option("--force", is_flag=True, help="Also those reminded within the last hour.")
@json_option
def remind(name: str, users: tuple[str, ...], everyone: bool, force: bool, as_json: bool) -> int:
    """Email members of NAME without MFA the steps to enable it. Exits 1 when any email
    could not be sent (after printing the result)."""
    if everyone == bool(users):
        raise click.UsageError("give either --user NAME (one or more) or --all")
    body: dict[str, Any] = {"all": True} if everyone else {"users": list(users)}
    body["force"] = force
    answer = _call("POST", _org_path(name, "reminders"), body)
    result = {key: list(answer[key]) for key in ("sent", "skipped", "failed")}
    reasons: dict[str, str] = answer.get("reasons") or {}
    prose = [f"sent: {', '.join(result['sent']) or '-'}"]
    prose += [f"skipped {user}: {reasons.get(user, '')}" for user in result["skipped"]]
    prose += [f"failed {user}: {reasons.get(user, '')}" for user in result["failed"]]
    emit(as_json, result, prose)
    if result["failed"]:
        sys.stderr.write(f"sshgate: no reminder sent to: {', '.join(result['failed'])}\n")
        return 1
    return 0
