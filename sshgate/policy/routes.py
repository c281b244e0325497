"""Route parsing: what an SSH user name and a git command name. Pure, no I/O.

The SSH user name is a route, not a person: `<project id>-<machine name>--<app>` names an
environment's app, a bare `<project id>` names the project's git repository.
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass

PROJECT_ID = re.compile(r"[a-z0-9]{13}")
ENV_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
APP_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?")
MACHINE_SUFFIX = re.compile(r"[a-z0-9]{7}")
USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,38}")
ORG_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,38}")

MAX_COMMAND_LENGTH = 4096


def is_env_name(name: str) -> bool:
    return bool(ENV_NAME.fullmatch(name)) and "--" not in name


def is_app_name(name: str) -> bool:
    return bool(APP_NAME.fullmatch(name)) and "--" not in name


@dataclass(frozen=True)
class ServiceRoute:
    """`<project id>-<env name>-<suffix>--<app>`: one app of one environment."""

    project_id: str
    machine_name: str
    env_name: str
    app: str


@dataclass(frozen=True)
class GitRoute:
    """A bare project id: the project's git repository."""

    project_id: str


Route = ServiceRoute | GitRoute


def parse_route(ssh_user: str) -> Route | None:
    """Return the route an SSH user name names, or None when it names nothing."""
    if PROJECT_ID.fullmatch(ssh_user):
        return GitRoute(ssh_user)
    left, sep, app = ssh_user.partition("--")
    if not sep or not is_app_name(app):
        return None
    project_id, dash, machine_name = left[:13], left[13:14], left[14:]
    if not PROJECT_ID.fullmatch(project_id) or dash != "-":
        return None
    env_name, dash, suffix = machine_name.rpartition("-")
    if not dash or not MACHINE_SUFFIX.fullmatch(suffix) or not is_env_name(env_name):
        return None
    return ServiceRoute(project_id, machine_name, env_name, app)


class GitOperation(enum.StrEnum):
    """The three pack commands git runs over SSH; the value is the upstream command."""

    UPLOAD_PACK = "git-upload-pack"
    RECEIVE_PACK = "git-receive-pack"
    UPLOAD_ARCHIVE = "git-upload-archive"

    @property
    def is_push(self) -> bool:
        return self is GitOperation.RECEIVE_PACK


class GitCommandError(ValueError):
    """The exec command on a git route is not one of the accepted pack commands."""


_GIT_VERBS = {op.value: op for op in GitOperation} | {
    "git " + op.value[4:]: op for op in GitOperation
}


def parse_git_command(command: str, project_id: str) -> GitOperation:
    """Accept exactly `git-<pack command> <repo>` where <repo> names `project_id`.

    The argument is unquoted shell-style, then compared exactly; the command is never
    handed to a shell. Raises GitCommandError with a one-line reason otherwise.
    """
    if len(command) > MAX_COMMAND_LENGTH:
        raise GitCommandError("command too long")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in command):
        raise GitCommandError("control characters in command")
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        raise GitCommandError("unbalanced quoting in command") from None
    if len(words) >= 2 and words[0] == "git":
        words = ["git " + words[1], *words[2:]]
    if not words or words[0] not in _GIT_VERBS:
        raise GitCommandError("only git-upload-pack, git-receive-pack and git-upload-archive")
    operation = _GIT_VERBS[words[0]]
    if len(words) != 2:
        raise GitCommandError(f"{operation.value} takes exactly one repository argument")
    if words[1] not in repository_spellings(project_id):
        raise GitCommandError(f"this remote serves only {project_id}.git")
    return operation


def repository_spellings(project_id: str) -> tuple[str, ...]:
    return (f"{project_id}.git", f"/{project_id}.git", project_id, f"/{project_id}")


def upstream_git_command(operation: GitOperation, repository_path: str) -> str:
    """The command run upstream: sshd hands exec commands to the login shell, so quote."""
    return f"{operation.value} {shlex.quote(repository_path)}"
