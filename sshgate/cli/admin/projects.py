"""`sshgate admin project ...` and `sshgate admin env ...`"""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.cli.admin._common import (
    audit_admin,
    host_keys_from,
    org_named,
    project_with_id,
    user_named,
)
from sshgate.config import Config
from sshgate.policy import (
    Environment,
    Project,
    ProjectRole,
    SpecError,
    is_app_name,
    is_env_name,
    new_machine_name,
    new_project_id,
    parse_git_upstream,
    parse_upstream,
)
from sshgate.store import ConflictError, Store


@click.group(cls=Group)
def project() -> None:
    """Projects, their git upstream and who may use them."""


@project.command("add")
@click.argument("org")
@click.option("--title", required=True)
@click.option("--git-upstream", required=True, metavar="USER@HOST:PORT:/path/repo.git")
@click.option("--host-key-file", required=True, type=click.Path(dir_okay=False))
@config_option
@json_option
def add(
    org: str,
    title: str,
    git_upstream: str,
    host_key_file: str,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Create a project in ORG whose git repository lives at --git-upstream."""
    try:
        endpoint, path = parse_git_upstream(git_upstream, host_keys_from(host_key_file))
    except SpecError as exc:
        raise Refusal(str(exc)) from None

    async def action(config: Config, store: Store) -> str:
        await org_named(store, org)
        for _ in range(5):
            candidate = Project(new_project_id(), org, title, endpoint, path)
            try:
                created = await store.create_project(candidate)
            except ConflictError:
                continue
            await audit_admin(store, "project-add", created.id, f"org={org}")
            return created.id
        raise Refusal("could not allocate a project id; try again")

    project_id = run(config_path, action)
    emit(as_json, {"id": project_id}, f"created project {project_id} in {org}")


@project.command("grant")
@click.argument("project_id", metavar="PROJECT")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in ProjectRole]),
    required=True,
)
@config_option
@json_option
def grant(
    project_id: str, username: str, role: str, config_path: str | None, as_json: bool
) -> None:
    """Give USERNAME a ROLE in PROJECT. USERNAME must be a member of the project's
    organization first (`sshgate admin org member ORG USERNAME --role member`): a grant
    gives nothing to someone outside the organization, so it is refused.

    \b
    What each role may do in a project:
      viewer       git pull (and `ssh -T` the greeting)
      contributor  also git push, ssh/scp/sftp into its environments, port and
                   agent forwarding (as the certificate permits)
      admin        everything a contributor may (the project's administrator)
    An org owner or admin may do everything in every project of the org without a
    grant; an org member only what their grants allow.
    """

    async def action(config: Config, store: Store) -> None:
        found = await project_with_id(store, project_id)
        target = await user_named(store, username)
        facts = await store.access_facts(project_id, target.id)
        if facts.org_role is None:
            raise Refusal(
                f"{username} is not a member of organization {found.org}; add them first:"
                f" sshgate admin org member {found.org} {username} --role member"
            )
        await store.set_grant(project_id, target.id, ProjectRole(role))
        await audit_admin(store, "project-grant", project_id, f"{username}={role}")

    run(config_path, action)
    emit(
        as_json,
        {"project": project_id, "username": username, "role": role},
        f"{username} is {role} of {project_id}",
    )


@project.command("revoke")
@click.argument("project_id", metavar="PROJECT")
@click.argument("username")
@config_option
@json_option
def revoke(project_id: str, username: str, config_path: str | None, as_json: bool) -> None:
    """Remove USERNAME's grant in PROJECT."""

    async def action(config: Config, store: Store) -> None:
        await project_with_id(store, project_id)
        target = await user_named(store, username)
        await store.remove_grant(project_id, target.id)
        await audit_admin(store, "project-revoke", project_id, username)

    run(config_path, action)
    emit(as_json, {"project": project_id, "username": username}, f"revoked {username}")


@project.command("remove")
@click.argument("project_id", metavar="PROJECT")
@config_option
@json_option
def remove(project_id: str, config_path: str | None, as_json: bool) -> None:
    """Remove PROJECT and its environments."""

    async def action(config: Config, store: Store) -> None:
        await project_with_id(store, project_id)
        await store.remove_project(project_id)
        await audit_admin(store, "project-remove", project_id)

    run(config_path, action)
    emit(as_json, {"id": project_id}, f"removed project {project_id}")


@click.group(cls=Group)
def env() -> None:
    """Environments (one upstream OpenSSH server per app)."""


def _check_names(name: str, app: str) -> None:
    if not is_env_name(name):
        raise Refusal(f"invalid environment name {name!r}")
    if not is_app_name(app):
        raise Refusal(f"invalid app name {app!r}")


def _env_json(environment: Environment) -> dict[str, str]:
    return {
        "service": environment.service,
        "machine_name": environment.machine_name,
        "environment": environment.name,
        "app": environment.app,
    }


@env.command("add")
@click.argument("project_id", metavar="PROJECT")
@click.argument("name")
@click.option("--app", default="app", show_default=True)
@click.option("--upstream", required=True, metavar="USER@HOST:PORT")
@click.option("--host-key-file", required=True, type=click.Path(dir_okay=False))
@config_option
@json_option
def env_add(
    project_id: str,
    name: str,
    app: str,
    upstream: str,
    host_key_file: str,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Add app APP of environment NAME to PROJECT, served by --upstream."""
    _check_names(name, app)
    try:
        endpoint = parse_upstream(upstream, host_keys_from(host_key_file))
    except SpecError as exc:
        raise Refusal(str(exc)) from None

    async def action(config: Config, store: Store) -> Environment:
        await project_with_id(store, project_id)
        candidate = Environment(project_id, name, new_machine_name(name), app, endpoint)
        try:
            created = await store.add_environment(candidate)
        except ConflictError:
            raise Refusal(f"app {app!r} of environment {name!r} already exists") from None
        await audit_admin(store, "env-add", created.service, str(endpoint))
        return created

    created = run(config_path, action)
    emit(as_json, _env_json(created), f"created {created.service}")


@env.command("host-key")
@click.argument("project_id", metavar="PROJECT")
@click.argument("name")
@click.option("--app", default="app", show_default=True)
@click.option("--host-key-file", required=True, type=click.Path(dir_okay=False))
@config_option
@json_option
def env_host_key(
    project_id: str, name: str, app: str, host_key_file: str, config_path: str | None, as_json: bool
) -> None:
    """Replace the pinned host key(s) of an environment's app."""
    keys = host_keys_from(host_key_file)

    async def action(config: Config, store: Store) -> Environment:
        found = await store.get_environment(project_id, name, app)
        if found is None:
            raise Refusal(f"no app {app!r} of environment {name!r} in {project_id}")
        await store.set_environment_host_keys(project_id, name, app, keys)
        await audit_admin(store, "env-host-key", found.service)
        return found

    found = run(config_path, action)
    emit(as_json, _env_json(found), f"host key of {found.service} updated")


@env.command("remove")
@click.argument("project_id", metavar="PROJECT")
@click.argument("name")
@click.option("--app", default=None, help="Only this app (default: every app of NAME).")
@config_option
@json_option
def env_remove(
    project_id: str, name: str, app: str | None, config_path: str | None, as_json: bool
) -> None:
    """Remove environment NAME (or one app of it) from PROJECT."""

    async def action(config: Config, store: Store) -> None:
        await project_with_id(store, project_id)
        await store.remove_environment(project_id, name, app)
        await audit_admin(store, "env-remove", f"{project_id}/{name}", app)

    run(config_path, action)
    emit(
        as_json,
        {"project": project_id, "environment": name, "app": app},
        f"removed {name}{'/' + app if app else ''} from {project_id}",
    )
