"""Users and organizations (with their members and add-ons), shared by both stores.

Every mutation that can change an access decision bumps `policy_version` in its own
transaction, so a gateway that sees the counter move knows its cached answers are stale.
Lists of an unknown org are empty; mutations naming one raise NotFoundError.
"""

from __future__ import annotations

import time
import uuid

from sshgate.policy import MFALevel, Organization, OrgRole, User
from sshgate.store import _rows as rows
from sshgate.store._ledger import bump_policy_version, changed, require
from sshgate.store._roles import MEMBERSHIPS
from sshgate.store._sql import Database
from sshgate.store.base import Membership, NotFoundError

_USER = (
    "u.id, u.username, u.email, u.disabled, u.mfa_enabled, u.mfa_since, u.mfa_revoked_at,"
    " u.created_at"
)


class Directory:
    """Mixed into each store, which provides `_db`."""

    _db: Database

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
            await changed(
                tx,
                "user",
                user_id,
                "UPDATE users SET disabled = ? WHERE id = ? RETURNING id",
                int(disabled),
                user_id,
            )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._db.write() as tx:
            await changed(
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
        # mfa_last_step goes with the secret it was accepted for, so that the user can enrol
        # a new authenticator at once. The failure count and lock go too, since a reset is
        # how an operator helps a locked-out user.
        async with self._db.write() as tx:
            await changed(
                tx,
                "user",
                user_id,
                "UPDATE users SET mfa_enabled = 0, mfa_since = NULL, mfa_secret_enc = NULL,"
                " mfa_last_step = NULL, mfa_failures = 0, mfa_locked_until = NULL,"
                " mfa_revoked_at = ?"
                " WHERE id = ? RETURNING id",
                at,
                user_id,
            )
            # The user's keys go with the rest of their MFA: a reset starts from scratch.
            await tx.rows("DELETE FROM security_keys WHERE user_id = ?", user_id)
            await tx.rows("DELETE FROM totp_setups WHERE user_id = ?", user_id)

    async def set_mfa_secret(self, user_id: str, secret_enc: bytes) -> None:
        """Store `secret_enc` as the user's authenticator app while MFA is off, for
        `enable_mfa` to turn on (operator tools and tests; the user's own setup goes through
        `save_totp_setup` and `confirm_totp_setup`)."""
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
            await changed(
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
            row = await tx.one(
                "SELECT name, mfa_required, mfa_level FROM orgs WHERE name = ?", name
            )
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

    async def set_mfa_required(
        self, name: str, required: bool, level: MFALevel = MFALevel.ANY
    ) -> None:
        """Switch the requirement and its level; switched off, the level goes back to any."""
        async with self._db.write() as tx:
            await changed(
                tx,
                "organization",
                name,
                "UPDATE orgs SET mfa_required = ?, mfa_level = ? WHERE name = ? RETURNING name",
                int(required),
                MFALevel(level if required else MFALevel.ANY).value,
                name,
            )

    async def set_member(self, org: str, user_id: str, role: OrgRole) -> None:
        await MEMBERSHIPS.assign(self._db, org, user_id, OrgRole(role).value)

    async def remove_member(self, org: str, user_id: str) -> None:
        await MEMBERSHIPS.remove(self._db, org, user_id)

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
                "SELECT o.name, o.mfa_required, o.mfa_level, m.role FROM org_members m"
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
