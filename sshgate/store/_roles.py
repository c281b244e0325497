"""Role tables, (owner, user) -> role: org memberships and project grants, shared by both
stores. Assigning or removing a role is a policy change."""

from __future__ import annotations

from dataclasses import dataclass

from sshgate.store._ledger import Kind, bump_policy_version, require
from sshgate.store._sql import Database
from sshgate.store.base import NotFoundError


@dataclass(frozen=True)
class RoleTable:
    """A table of (owner, user) -> role: org memberships or project grants."""

    table: str  # org_members, project_grants
    owner_column: str  # org, project_id
    owner_kind: Kind
    missing: str  # NotFoundError message when removing a role that is not there

    async def assign(self, db: Database, owner: str, user_id: str, role: str) -> None:
        """Give `user_id` `role` on `owner` (or change it); a policy change."""
        async with db.write() as tx:
            await require(tx, self.owner_kind, owner)
            await require(tx, "user", user_id)
            await tx.rows(
                f"INSERT INTO {self.table} ({self.owner_column}, user_id, role) VALUES (?, ?, ?)"
                f" ON CONFLICT ({self.owner_column}, user_id) DO UPDATE SET role = excluded.role",
                owner,
                user_id,
                role,
            )
            await bump_policy_version(tx)

    async def remove(self, db: Database, owner: str, user_id: str) -> None:
        """Take `user_id`'s role on `owner` away; NotFoundError when there is none."""
        async with db.write() as tx:
            await require(tx, self.owner_kind, owner)
            await require(tx, "user", user_id)
            if not await tx.rows(
                f"DELETE FROM {self.table} WHERE {self.owner_column} = ? AND user_id = ?"
                " RETURNING user_id",
                owner,
                user_id,
            ):
                raise NotFoundError(self.missing.format(user=user_id, owner=owner))
            await bump_policy_version(tx)


MEMBERSHIPS = RoleTable(
    "org_members", "org", "organization", "user {user!r} is not a member of {owner!r}"
)
GRANTS = RoleTable(
    "project_grants", "project_id", "project", "user {user!r} has no grant on project {owner!r}"
)
