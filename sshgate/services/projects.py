"""The operator's commands on projects and their environments (`sshgate admin project|env
...`): which names and upstreams are accepted, who may be granted a project, what a
conflict or a missing project answers, and what lands in the audit log (as the operator,
like `Operator`'s commands).

The checks of the operator's input (`git_upstream`, `environment_upstream`, `pinned`,
`check_environment_names`) are pure, so that a shell may refuse bad input before it opens
the store; the commands apply them again, so no caller can store what they refuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sshgate.policy import (
    Endpoint,
    Environment,
    Project,
    ProjectRole,
    SpecError,
    User,
    is_app_name,
    is_env_name,
    new_machine_name,
    new_project_id,
    parse_git_upstream,
    parse_upstream,
)
from sshgate.services.errors import InvalidRequest, NotFound, ServiceError
from sshgate.services.operator import Operator
from sshgate.store import ConflictError, Store

__all__ = [
    "Projects",
    "check_environment_names",
    "environment_upstream",
    "git_upstream",
    "pinned",
]

# Tries at a fresh random project id before giving up (a clash is already rare at one).
PROJECT_ID_TRIES = 5


def git_upstream(spec: str, host_keys: tuple[str, ...]) -> tuple[Endpoint, str]:
    """A project's `USER@HOST:PORT:/path/repo.git`, pinned to `host_keys`: the endpoint and
    the repository path."""
    try:
        return parse_git_upstream(spec, pinned(host_keys))
    except SpecError as exc:
        raise InvalidRequest(str(exc)) from None


def environment_upstream(spec: str, host_keys: tuple[str, ...]) -> Endpoint:
    """An environment app's `USER@HOST:PORT`, pinned to `host_keys`."""
    try:
        return parse_upstream(spec, pinned(host_keys))
    except SpecError as exc:
        raise InvalidRequest(str(exc)) from None


def pinned(host_keys: tuple[str, ...]) -> tuple[str, ...]:
    """The host keys an upstream is pinned to: at least one (the gateway connects only to a
    server whose host key it knows)."""
    if not host_keys:
        raise InvalidRequest("no host key: an upstream is pinned to at least one")
    return host_keys


def check_environment_names(name: str, app: str) -> None:
    """An environment's and an app's name, as the service names they make need them."""
    if not is_env_name(name):
        raise InvalidRequest(f"invalid environment name {name!r}")
    if not is_app_name(app):
        raise InvalidRequest(f"invalid app name {app!r}")


class Projects:
    def __init__(self, store: Store, now: Callable[[], float] = time.time) -> None:
        self._store = store
        self._operator = Operator(store, now)

    async def project(self, project_id: str) -> Project:
        found = await self._store.get_project(project_id)
        if found is None:
            raise NotFound(f"no project with id {project_id!r}")
        return found

    async def add_project(self, org: str, title: str, upstream: Endpoint, path: str) -> Project:
        """A project in `org` under a fresh random id, its git repository at `path` on
        `upstream`."""
        pinned(upstream.host_keys)
        await self._operator.org(org)
        for _ in range(PROJECT_ID_TRIES):
            candidate = Project(new_project_id(), org, title, upstream, path)
            try:
                created = await self._store.create_project(candidate)
            except ConflictError:
                continue
            await self._operator.audit("project-add", created.id, f"org={org}")
            return created
        raise ServiceError("could not allocate a project id; try again")

    async def grant(self, project_id: str, username: str, role: ProjectRole) -> User:
        """Give `username` `role` in the project. Refused for a user outside the project's
        org, with the command that makes them a member: such a grant would give nothing."""
        found = await self.project(project_id)
        target = await self._operator.user(username)
        facts = await self._store.access_facts(project_id, target.id)
        if facts.org_role is None:
            raise InvalidRequest(
                f"{username} is not a member of organization {found.org}; add them first:"
                f" sshgate admin org member {found.org} {username} --role member"
            )
        await self._store.set_grant(project_id, target.id, role)
        await self._operator.audit("project-grant", project_id, f"{username}={role.value}")
        return target

    async def revoke(self, project_id: str, username: str) -> User:
        await self.project(project_id)
        target = await self._operator.user(username)
        await self._store.remove_grant(project_id, target.id)
        await self._operator.audit("project-revoke", project_id, username)
        return target

    async def remove_project(self, project_id: str) -> None:
        """Remove the project and its environments."""
        await self.project(project_id)
        await self._store.remove_project(project_id)
        await self._operator.audit("project-remove", project_id)

    # environments

    async def add_environment(
        self, project_id: str, name: str, app: str, upstream: Endpoint
    ) -> Environment:
        """App `app` of environment `name`, served by `upstream`; the store keeps the
        machine name of an environment that has an app already."""
        check_environment_names(name, app)
        pinned(upstream.host_keys)
        await self.project(project_id)
        candidate = Environment(project_id, name, new_machine_name(name), app, upstream)
        try:
            created = await self._store.add_environment(candidate)
        except ConflictError:
            raise InvalidRequest(f"app {app!r} of environment {name!r} already exists") from None
        await self._operator.audit("env-add", created.service, str(upstream))
        return created

    async def set_host_keys(
        self, project_id: str, name: str, app: str, host_keys: tuple[str, ...]
    ) -> Environment:
        """Replace the host keys pinned for an environment's app."""
        found = await self._store.get_environment(project_id, name, app)
        if found is None:
            raise NotFound(f"no app {app!r} of environment {name!r} in {project_id}")
        await self._store.set_environment_host_keys(project_id, name, app, pinned(host_keys))
        await self._operator.audit("env-host-key", found.service)
        return found

    async def remove_environment(self, project_id: str, name: str, app: str | None) -> None:
        """Remove environment `name`, or only its app `app`."""
        await self.project(project_id)
        await self._store.remove_environment(project_id, name, app)
        await self._operator.audit("env-remove", f"{project_id}/{name}", app)
