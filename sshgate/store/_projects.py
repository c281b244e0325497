"""Projects, their grants and environments, and the access facts a decision reads; shared
by both stores. Mutations bump `policy_version` in their own transaction; lists of an
unknown project are empty; mutations naming one raise NotFoundError.
"""

from __future__ import annotations

import dataclasses
import time

from sshgate.policy import Environment, MFALevel, Organization, OrgRole, Project, ProjectRole
from sshgate.store import _rows as rows
from sshgate.store._ledger import bump_policy_version, changed, require
from sshgate.store._roles import GRANTS
from sshgate.store._sql import Database
from sshgate.store.base import AccessFacts, ConflictError, NotFoundError

_PROJECT = "id, org, title, git_user, git_host, git_port, git_host_keys, git_path"
_ENVIRONMENT = (
    "project_id, name, app, machine_name, upstream_user, upstream_host, upstream_port, host_keys"
)


class ProjectCatalog:
    """Mixed into each store, which provides `_db`."""

    _db: Database

    async def create_project(self, project: Project) -> Project:
        params = rows.project_params(project)
        async with self._db.write(conflict=f"project {project.id!r} already exists") as tx:
            await require(tx, "organization", project.org)
            await tx.rows(
                f"INSERT INTO projects ({_PROJECT}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *params,
                time.time(),
            )
            await bump_policy_version(tx)
        return project

    async def get_project(self, project_id: str) -> Project | None:
        row = await self._db.one(f"SELECT {_PROJECT} FROM projects WHERE id = ?", project_id)
        return None if row is None else rows.project_from_row(row)

    async def remove_project(self, project_id: str) -> None:
        # Grants and environments go with it (ON DELETE CASCADE).
        async with self._db.write() as tx:
            await changed(
                tx,
                "project",
                project_id,
                "DELETE FROM projects WHERE id = ? RETURNING id",
                project_id,
            )

    async def list_projects(self, org: str | None = None) -> list[Project]:
        if org is None:
            found = await self._db.rows(f"SELECT {_PROJECT} FROM projects ORDER BY org, title, id")
        else:
            found = await self._db.rows(
                f"SELECT {_PROJECT} FROM projects WHERE org = ? ORDER BY title, id", org
            )
        return [rows.project_from_row(r) for r in found]

    async def set_grant(self, project_id: str, user_id: str, role: ProjectRole) -> None:
        await GRANTS.assign(self._db, project_id, user_id, ProjectRole(role).value)

    async def remove_grant(self, project_id: str, user_id: str) -> None:
        await GRANTS.remove(self._db, project_id, user_id)

    async def add_environment(self, env: Environment) -> Environment:
        async with self._db.write() as tx:
            await require(tx, "project", env.project_id)
            if await tx.one(
                "SELECT 1 FROM environments WHERE project_id = ? AND name = ? AND app = ?",
                env.project_id,
                env.name,
                env.app,
            ):
                raise ConflictError(
                    f"environment {env.name!r} of project {env.project_id!r}"
                    f" already has an app {env.app!r}"
                )
            # The service name embeds the machine name, so all apps of one environment share
            # the first app's: a second app must not rename the environment.
            sibling = await tx.one(
                "SELECT machine_name FROM environments WHERE project_id = ? AND name = ? LIMIT 1",
                env.project_id,
                env.name,
            )
            if sibling is not None:
                env = dataclasses.replace(env, machine_name=sibling["machine_name"])
            await tx.rows(
                f"INSERT INTO environments ({_ENVIRONMENT}, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *rows.environment_params(env),
                time.time(),
            )
            await bump_policy_version(tx)
        return env

    async def get_environment(self, project_id: str, name: str, app: str) -> Environment | None:
        row = await self._db.one(
            f"SELECT {_ENVIRONMENT} FROM environments"
            " WHERE project_id = ? AND name = ? AND app = ?",
            project_id,
            name,
            app,
        )
        return None if row is None else rows.environment_from_row(row)

    async def list_environments(self, project_id: str) -> list[Environment]:
        found = await self._db.rows(
            f"SELECT {_ENVIRONMENT} FROM environments WHERE project_id = ? ORDER BY name, app",
            project_id,
        )
        return [rows.environment_from_row(r) for r in found]

    async def set_environment_host_keys(
        self, project_id: str, name: str, app: str, host_keys: tuple[str, ...]
    ) -> None:
        joined = rows.join_host_keys(host_keys)
        async with self._db.write() as tx:
            if not await tx.rows(
                "UPDATE environments SET host_keys = ? WHERE project_id = ?"
                " AND name = ? AND app = ? RETURNING app",
                joined,
                project_id,
                name,
                app,
            ):
                raise NotFoundError(_no_environment(project_id, name, app))
            await bump_policy_version(tx)

    async def remove_environment(self, project_id: str, name: str, app: str | None) -> None:
        """Remove one app of an environment, or all of its apps when `app` is None."""
        async with self._db.write() as tx:
            if app is None:
                removed = await tx.rows(
                    "DELETE FROM environments WHERE project_id = ? AND name = ? RETURNING app",
                    project_id,
                    name,
                )
            else:
                removed = await tx.rows(
                    "DELETE FROM environments WHERE project_id = ?"
                    " AND name = ? AND app = ? RETURNING app",
                    project_id,
                    name,
                    app,
                )
            if not removed:
                raise NotFoundError(_no_environment(project_id, name, app))
            await bump_policy_version(tx)

    async def access_facts(self, project_id: str, user_id: str) -> AccessFacts:
        # One snapshot, so that a concurrent change is seen whole or not at all.
        async with self._db.read() as tx:
            row = await tx.one(
                f"SELECT {_PROJECT}, o.mfa_required, o.mfa_level,"
                " (SELECT role FROM org_members WHERE org = p.org AND user_id = ?) AS org_role,"
                " (SELECT role FROM project_grants WHERE project_id = p.id AND user_id = ?)"
                " AS project_role"
                " FROM projects p JOIN orgs o ON o.name = p.org WHERE p.id = ?",
                user_id,
                user_id,
                project_id,
            )
            if row is None:
                return AccessFacts(project=None, org=None, org_role=None, project_role=None)
            addons = await tx.rows("SELECT addon FROM org_addons WHERE org = ?", row["org"])
            envs = await tx.rows(
                f"SELECT {_ENVIRONMENT} FROM environments WHERE project_id = ? ORDER BY name, app",
                project_id,
            )
        org = Organization(
            name=row["org"],
            mfa_required=bool(row["mfa_required"]),
            addons=frozenset(a["addon"] for a in addons),
            mfa_level=MFALevel(row["mfa_level"]),
        )
        return AccessFacts(
            project=rows.project_from_row(row),
            org=org,
            org_role=None if row["org_role"] is None else OrgRole(row["org_role"]),
            project_role=(
                None if row["project_role"] is None else ProjectRole(row["project_role"])
            ),
            environments=tuple(rows.environment_from_row(r) for r in envs),
        )


def _no_environment(project_id: str, name: str, app: str | None) -> str:
    which = f"environment {name!r}" if app is None else f"app {app!r} of environment {name!r}"
    return f"{which} of project {project_id!r} does not exist"
