"""What a session request asks for, before anything is looked up. Pure.

Turns (route, shell|exec|subsystem) into a request kind and the upstream action, or a
refusal that needs no policy: a malformed git command exits 128, as git expects.
"""

from __future__ import annotations

from dataclasses import dataclass

from sshgate.policy import (
    GitCommandError,
    GitOperation,
    GitRoute,
    RequestKind,
    parse_git_command,
    parse_route,
)

GIT_REFUSAL_STATUS = 128


@dataclass(frozen=True)
class SessionRequest:
    """The channel request as the client made it."""

    requested: str  # the SSH user name
    action: str  # "shell" | "exec" | "subsystem"
    command: str | None = None  # exec command, or subsystem name


@dataclass(frozen=True)
class Plan:
    kind: RequestKind
    git_operation: GitOperation | None = None
    refusal: str | None = None  # one line; the request is refused before any policy
    refusal_status: int = 1


def plan_session(request: SessionRequest) -> Plan:
    route = parse_route(request.requested)
    if isinstance(route, GitRoute):
        return _plan_git(request, route.project_id)
    if request.action == "shell":
        return Plan(RequestKind.SHELL)
    if request.action == "exec":
        return Plan(RequestKind.EXEC)
    if request.command != "sftp":
        return Plan(
            RequestKind.SUBSYSTEM,
            refusal=f"sshgate: subsystem {request.command!r} is not available; only sftp",
        )
    return Plan(RequestKind.SUBSYSTEM)


def _plan_git(request: SessionRequest, project_id: str) -> Plan:
    if request.action == "shell":
        return Plan(RequestKind.GIT_GREETING)
    if request.action != "exec" or request.command is None:
        return Plan(
            RequestKind.GIT_PULL,
            refusal="sshgate: this remote only serves git; no subsystems",
            refusal_status=GIT_REFUSAL_STATUS,
        )
    try:
        operation = parse_git_command(request.command, project_id)
    except GitCommandError as exc:
        return Plan(
            RequestKind.GIT_PULL,
            refusal=f"sshgate: refused git command: {exc}",
            refusal_status=GIT_REFUSAL_STATUS,
        )
    kind = RequestKind.GIT_PUSH if operation.is_push else RequestKind.GIT_PULL
    return Plan(kind, git_operation=operation)


def greeting(username: str, project_id: str, title: str, can_push: bool) -> str:
    access = "pull from and push to" if can_push else "pull from"
    return f"Hello {username}! You can {access} project {project_id} ({title}) through sshgate."
