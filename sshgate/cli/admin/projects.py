"""`sshgate admin project ...` and `sshgate admin env ...`"""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli._output import emit, json_option
from sshgate.cli._server import config_option, refused_input, run
from sshgate.cli.admin._common import host_keys_from
from sshgate.policy import Environment, ProjectRole
from sshgate.services import (
    Projects,
    check_environment_names,
    environment_upstream,
    git_upstream,
)


@click.group(cls=Group)
def project() -> None:
    """Projects, their git upstream and who may use them."""


@project.command("add")
@click.argument("org")
@click.option("--title", required=True)
@click.option(
    "--git-upstream", "git_upstream_spec", required=True, metavar="USER@HOST:PORT:/path/repo.git"
)
@click.option("--host-key-file", required=True, type=click.Path(dir_okay=False))
@config_option
@json_option
def add(
    org: str,
    title: str,
    git_upstream_spec: str,
    host_key_file: str,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Create a project in ORG whose git repository lives at --git-upstream."""
    host_keys = host_keys_from(host_key_file)
    with refused_input():
        endpoint, path = git_upstream(git_upstream_spec, host_keys)
    created = run(
        config_path, lambda _, store: Projects(store).add_project(org, title, endpoint, path)
    )
    emit(as_json, {"id": created.id}, f"created project {created.id} in {org}")


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

    run(
        config_path, lambda _, store: Projects(store).grant(project_id, username, ProjectRole(role))
    )
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
    run(config_path, lambda _, store: Projects(store).revoke(project_id, username))
    emit(as_json, {"project": project_id, "username": username}, f"revoked {username}")


@project.command("remove")
@click.argument("project_id", metavar="PROJECT")
@config_option
@json_option
def remove(project_id: str, config_path: str | None, as_json: bool) -> None:
    """Remove PROJECT and its environments."""
    run(config_path, lambda _, store: Projects(store).remove_project(project_id))
    emit(as_json, {"id": project_id}, f"removed project {project_id}")


@click.group(cls=Group)
def env() -> None:
    """Environments (one upstream OpenSSH server per app)."""


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
    with refused_input():
        check_environment_names(name, app)
    host_keys = host_keys_from(host_key_file)
    with refused_input():
        endpoint = environment_upstream(upstream, host_keys)
    created = run(
        config_path,
        lambda _, store: Projects(store).add_environment(project_id, name, app, endpoint),
    )
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
    found = run(
        config_path, lambda _, store: Projects(store).set_host_keys(project_id, name, app, keys)
    )
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
    run(config_path, lambda _, store: Projects(store).remove_environment(project_id, name, app))
    emit(
        as_json,
        {"project": project_id, "environment": name, "app": app},
        f"removed {name}{'/' + app if app else ''} from {project_id}",
    )
