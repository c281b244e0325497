"""`sshgate admin org ...`"""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli._level import closing_words, level_option, level_words
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.cli.admin._common import audit_admin, org_named, user_named
from sshgate.config import Config
from sshgate.policy import ADVANCED_USER_MANAGEMENT, ORG_NAME, MFALevel, OrgRole
from sshgate.services import OrgSecurity
from sshgate.store import ConflictError, Store

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
    if not ORG_NAME.fullmatch(name):
        raise Refusal(f"invalid organization name {name!r}: expected ^[a-z0-9][a-z0-9-]{{1,38}}$")

    async def action(config: Config, store: Store) -> None:
        try:
            await store.create_org(name, frozenset(addons))
        except ConflictError:
            raise Refusal(f"organization {name!r} already exists") from None
        await audit_admin(store, "org-add", name, ",".join(addons) or None)

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
        await org_named(store, name)
        await store.set_org_addon(name, addon, change == "add")
        await audit_admin(store, f"org-addon-{change}", name, addon)
        return sorted((await org_named(store, name)).addons)

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
        await org_named(store, name)
        target = await user_named(store, username)
        await store.set_member(name, target.id, OrgRole(role))
        await audit_admin(store, "org-member", name, f"{username}={role}")
        return target.id

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
        await org_named(store, name)
        target = await user_named(store, username)
        await store.remove_member(name, target.id)
        await audit_admin(store, "org-member-remove", name, username)

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
