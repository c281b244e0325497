"""The embedded store: one SQLite file in WAL mode, shared by the sshgate processes of one host.

Every mutation that can change an access decision bumps `policy_version` in its own
transaction, so a gateway that sees the counter move knows its cached answers are stale.
Lists of an unknown org or project are empty; mutations naming one raise NotFoundError.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

from sshgate.policy.model import Environment, Organization, OrgRole, Project, ProjectRole, User
from sshgate.store import _rows as rows
from sshgate.store._accounts import AccountStore
from sshgate.store._database import Database, Transaction
from sshgate.store._ledger import Kind, Ledger, bump_policy_version, require
from sshgate.store.base import AccessFacts, ConflictError, Membership, NotFoundError

_USER = (
    "u.id, u.username, u.email, u.disabled, u.mfa_enabled, u.mfa_since, u.mfa_revoked_at,"
    " u.created_at"
)
_PROJECT = "id, org, title, git_user, git_host, git_port, git_host_keys, git_path"
_ENVIRONMENT = (
    "project_id, name, app, machine_name, upstream_user, upstream_host, upstream_port, host_keys"
)


async def _changed(
    tx: Transaction,
    kind: Kind,
    key: str,
    sql: str,
    *params: object,
) -> None:
    """Run an UPDATE ... RETURNING on one named thing and count it as a policy change."""
    if not await tx.rows(sql, *params):
        raise NotFoundError(f"{kind} {key!r} does not exist")
    await bump_policy_version(tx)


class SQLiteStore(AccountStore, Ledger):
    """`Store` on SQLite. Open with `await SQLiteStore.open(path)`; close when done."""

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        """Open (creating if needed, mode 0600) and migrate the database at `path`."""
        return cls(await Database.open(path))

    @property
    def path(self) -> str:
        return self._db.path

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        await self._db.rows("SELECT version FROM policy_version WHERE id = 1")

    # users

    async def create_user(self, username: str, email: str, password_hash: str) -> User:
        user = User(id=str(uuid.uuid4()), username=username, email=email, created_at=time.time())
        await self._db.rows(
            "INSERT INTO users (id, username, email, password_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            user.id,
            username,
            email,
            password_hash,
            user.created_at,
            conflict=f"user {username!r} already exists",
        )
        return user

    async def get_user(self, user_id: str) -> User | None:
        row = await self._db.one(f"SELECT {_USER} FROM users u WHERE u.id = ?", user_id)
        return None if row is None else rows.user_from_row(row)

    async def get_user_by_name(self, username: str) -> User | None:
        row = await self._db.one(f"SELECT {_USER} FROM users u WHERE u.username = ?", username)
        return None if row is None else rows.user_from_row(row)

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        async with self._db.write() as tx:
            await _changed(
                tx,
                "user",
                user_id,
                "UPDATE users SET disabled = ? WHERE id = ? RETURNING id",
                int(disabled),
                user_id,
            )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._db.write() as tx:
            await _changed(
                tx,
                "user",
                user_id,
                "UPDATE users SET password_hash = ? WHERE id = ? RETURNING id",
                password_hash,
                user_id,
            )

    async def get_password_hash(self, user_id: str) -> str | None:
        row = await self._db.one("SELECT password_hash FROM users WHERE id = ?", user_id)
        return None if row is None else str(row["password_hash"])

    async def reset_mfa(self, user_id: str, at: float) -> None:
        # mfa_last_step survives: a time step once accepted stays spent for this user.
        # The failure count and lock go, since a reset is how an operator helps a locked-out user.
        async with self._db.write() as tx:
            await _changed(
                tx,
                "user",
                user_id,
                "UPDATE users SET mfa_enabled = 0, mfa_since = NULL, mfa_secret_enc = NULL,"
                " mfa_failures = 0, mfa_locked_until = NULL, mfa_revoked_at = ?"
                " WHERE id = ? RETURNING id",
                at,
                user_id,
            )

    async def set_mfa_secret(self, user_id: str, secret_enc: bytes) -> None:
        """Store the encrypted secret of a pending enrollment; MFA stays off until enabled."""
        async with self._db.write() as tx:
            if not await tx.rows(
                "UPDATE users SET mfa_secret_enc = ? WHERE id = ? AND mfa_enabled = 0 RETURNING id",
                secret_enc,
                user_id,
            ):
                raise NotFoundError(f"user {user_id!r} does not exist or already has MFA")

    async def enable_mfa(self, user_id: str, at: float) -> None:
        """Turn MFA on for the secret set by `set_mfa_secret` (after one correct code)."""
        async with self._db.write() as tx:
            await _changed(
                tx,
                "user",
                user_id,
                "UPDATE users SET mfa_enabled = 1, mfa_since = ?, mfa_failures = 0,"
                " mfa_locked_until = NULL WHERE id = ? AND mfa_secret_enc IS NOT NULL RETURNING id",
                at,
                user_id,
            )

    # organizations

    async def create_org(self, name: str, addons: frozenset[str] = frozenset()) -> Organization:
        async with self._db.write(conflict=f"organization {name!r} already exists") as tx:
            await tx.rows("INSERT INTO orgs (name, created_at) VALUES (?, ?)", name, time.time())
            for addon in sorted(addons):
                await tx.rows("INSERT INTO org_addons (org, addon) VALUES (?, ?)", name, addon)
        return Organization(name=name, addons=frozenset(addons))

    async def get_org(self, name: str) -> Organization | None:
        async with self._db.read() as tx:
            row = await tx.one("SELECT name, mfa_required FROM orgs WHERE name = ?", name)
            if row is None:
                return None
            addons = await tx.rows("SELECT addon FROM org_addons WHERE org = ?", name)
        return rows.org_from_row(row, (a["addon"] for a in addons))

    async def set_org_addon(self, name: str, addon: str, present: bool) -> None:
        async with self._db.write() as tx:
            await require(tx, "organization", name)
            if present:
                await tx.rows(
                    "INSERT INTO org_addons (org, addon) VALUES (?, ?)"
                    " ON CONFLICT (org, addon) DO NOTHING",
                    name,
                    addon,
                )
            else:
                await tx.rows("DELETE FROM org_addons WHERE org = ? AND addon = ?", name, addon)
            await bump_policy_version(tx)

    async def set_mfa_required(self, name: str, required: bool) -> None:
        async with self._db.write() as tx:
            await _changed(
                tx,
                "organization",
                name,
                "UPDATE orgs SET mfa_required = ? WHERE name = ? RETURNING name",
                int(required),
                name,
            )

    async def set_member(self, org: str, user_id: str, role: OrgRole) -> None:
        role = OrgRole(role)
        async with self._db.write() as tx:
            await require(tx, "organization", org)
            await require(tx, "user", user_id)
            await tx.rows(
                "INSERT INTO org_members (org, user_id, role) VALUES (?, ?, ?)"
                " ON CONFLICT (org, user_id) DO UPDATE SET role = excluded.role",
                org,
                user_id,
                role.value,
            )
            await bump_policy_version(tx)

    async def remove_member(self, org: str, user_id: str) -> None:
        async with self._db.write() as tx:
            await require(tx, "organization", org)
            await require(tx, "user", user_id)
            if not await tx.rows(
                "DELETE FROM org_members WHERE org = ? AND user_id = ? RETURNING user_id",
                org,
                user_id,
            ):
                raise NotFoundError(f"user {user_id!r} is not a member of {org!r}")
            await bump_policy_version(tx)

    async def list_members(self, org: str) -> list[Membership]:
        found = await self._db.rows(
            f"SELECT {_USER}, m.role FROM org_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.org = ? ORDER BY u.username",
            org,
        )
        return [Membership(org, rows.user_from_row(r), OrgRole(r["role"])) for r in found]

    async def orgs_of(self, user_id: str) -> list[tuple[Organization, OrgRole]]:
        async with self._db.read() as tx:
            found = await tx.rows(
                "SELECT o.name, o.mfa_required, m.role FROM org_members m"
                " JOIN orgs o ON o.name = m.org WHERE m.user_id = ? ORDER BY o.name",
                user_id,
            )
            addon_rows = await tx.rows(
                "SELECT a.org, a.addon FROM org_addons a JOIN org_members m ON m.org = a.org"
                " WHERE m.user_id = ?",
                user_id,
            )
        addons: dict[str, set[str]] = {}
        for a in addon_rows:
            addons.setdefault(a["org"], set()).add(a["addon"])
        return [
            (rows.org_from_row(r, addons.get(r["name"], ())), OrgRole(r["role"])) for r in found
        ]

    # projects and environments

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
            await _changed(
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
        role = ProjectRole(role)
        async with self._db.write() as tx:
            await require(tx, "project", project_id)
            await require(tx, "user", user_id)
            await tx.rows(
                "INSERT INTO project_grants (project_id, user_id, role) VALUES (?, ?, ?)"
                " ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                project_id,
                user_id,
                role.value,
            )
            await bump_policy_version(tx)

    async def remove_grant(self, project_id: str, user_id: str) -> None:
        async with self._db.write() as tx:
            await require(tx, "project", project_id)
            await require(tx, "user", user_id)
            if not await tx.rows(
                "DELETE FROM project_grants WHERE project_id = ? AND user_id = ? RETURNING user_id",
                project_id,
                user_id,
            ):
                raise NotFoundError(f"user {user_id!r} has no grant on project {project_id!r}")
            await bump_policy_version(tx)

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
                f"SELECT {_PROJECT}, o.mfa_required,"
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
