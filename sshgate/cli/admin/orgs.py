"""`sshgate admin org ...`"""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli._level import closing_words, level_option, level_words
from sshgate.cli._output import emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.config import Config
from sshgate.policy import ADVANCED_USER_MANAGEMENT, MFALevel, OrgRole
from sshgate.services import Operator, OrgSecurity
from sshgate.store import Store

KNOWN_ADDONS = (ADVANCED_USER_MANAGEMENT,)


@click.group(cls=Group)
def org() -> None:
    """Organizations, their add-ons, members and the MFA requirement."""


@org.command("add")
@click.argument("name")
@click.option("--addon", "addons", multiple=True, type=click.Choice(KNOWN_ADDONS))
@config_option
@json_option
def add(name: str, addons: tuple[str, ...], config_path: str | None, as_json: bool) -> None:
    """Create organization NAME."""

    async def action(config: Config, store: Store) -> None:
        await Operator(store).add_org(name, frozenset(addons))

    run(config_path, action)
    emit(as_json, {"name": name, "addons": sorted(addons)}, f"created organization {name}")


@org.command("addon")
@click.argument("name")
@click.argument("change", type=click.Choice(["add", "remove"]))
@click.argument("addon", type=click.Choice(KNOWN_ADDONS))
@config_option
@json_option
def addon(name: str, change: str, addon: str, config_path: str | None, as_json: bool) -> None:
    """Add or remove an add-on of organization NAME."""

    async def action(config: Config, store: Store) -> list[str]:
        return sorted((await Operator(store).set_addon(name, addon, change == "add")).addons)

    addons = run(config_path, action)
    emit(as_json, {"name": name, "addons": addons}, f"{name} add-ons: {', '.join(addons) or '-'}")


@org.command("member")
@click.argument("name")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in OrgRole]), required=True)
@config_option
@json_option
def member(name: str, username: str, role: str, config_path: str | None, as_json: bool) -> None:
    """Make USERNAME a member of organization NAME with ROLE."""

    async def action(config: Config, store: Store) -> str:
        return (await Operator(store).set_member(name, username, OrgRole(role))).id

    user_id = run(config_path, action)
    emit(
        as_json,
        {"org": name, "username": username, "id": user_id, "role": role},
        f"{username} is {role} of {name}",
    )


@org.command("member-remove")
@click.argument("name")
@click.argument("username")
@config_option
@json_option
def member_remove(name: str, username: str, config_path: str | None, as_json: bool) -> None:
    """Remove USERNAME from organization NAME."""

    async def action(config: Config, store: Store) -> None:
        await Operator(store).remove_member(name, username)

    run(config_path, action)
    emit(as_json, {"org": name, "username": username}, f"removed {username} from {name}")


@org.command("mfa-required")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@level_option
@config_option
@json_option
def mfa_required(name: str, state: str, level: str, config_path: str | None, as_json: bool) -> None:
    """Operator override: switch "MFA required" of NAME without the owner's prerequisites."""
    on = state == "on"
    chosen = MFALevel(level) if on else MFALevel.ANY

    async def action(config: Config, store: Store) -> int:
        switched = await OrgSecurity(store).operator_switch(name, on, chosen)
        return switched.sessions_to_close

    closing = run(config_path, action)
    emit(
        as_json,
        {
            "org": name,
            "mfa_required": on,
            "mfa_level": chosen.value,
            "sessions_to_close": closing,
        },
        f'"MFA required" is {state} for {name}{level_words(state, chosen.value)}'
        + (f"; {closing_words(closing, chosen.value)}" if on else ""),
    )
