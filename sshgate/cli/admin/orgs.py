"""`sshgate admin org ...`"""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli._level import level_option, switched_json, switched_line
from sshgate.cli._output import emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.policy import ADVANCED_USER_MANAGEMENT, MFALevel, OrgRole, closing_words
from sshgate.services import Operator, OrgSecurity

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
    run(config_path, lambda _, store: Operator(store).add_org(name, frozenset(addons)))
    emit(as_json, {"name": name, "addons": sorted(addons)}, f"created organization {name}")


@org.command("addon")
@click.argument("name")
@click.argument("change", type=click.Choice(["add", "remove"]))
@click.argument("addon", type=click.Choice(KNOWN_ADDONS))
@config_option
@json_option
def addon(name: str, change: str, addon: str, config_path: str | None, as_json: bool) -> None:
    """Add or remove an add-on of organization NAME."""
    changed = run(
        config_path, lambda _, store: Operator(store).set_addon(name, addon, change == "add")
    )
    addons = sorted(changed.addons)
    emit(as_json, {"name": name, "addons": addons}, f"{name} add-ons: {', '.join(addons) or '-'}")


@org.command("member")
@click.argument("name")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in OrgRole]), required=True)
@config_option
@json_option
def member(name: str, username: str, role: str, config_path: str | None, as_json: bool) -> None:
    """Make USERNAME a member of organization NAME with ROLE."""
    added = run(
        config_path, lambda _, store: Operator(store).set_member(name, username, OrgRole(role))
    )
    emit(
        as_json,
        {"org": name, "username": username, "id": added.id, "role": role},
        f"{username} is {role} of {name}",
    )


@org.command("member-remove")
@click.argument("name")
@click.argument("username")
@config_option
@json_option
def member_remove(name: str, username: str, config_path: str | None, as_json: bool) -> None:
    """Remove USERNAME from organization NAME."""
    run(config_path, lambda _, store: Operator(store).remove_member(name, username))
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
    switched = run(
        config_path, lambda _, store: OrgSecurity(store).operator_switch(name, on, chosen)
    )
    closing = switched.sessions_to_close
    emit(
        as_json,
        switched_json(name, on, chosen.value, closing),
        switched_line(name, state, chosen.value)
        + (f"; {closing_words(closing, chosen.value)}" if on else ""),
    )
