"""The operator's commands on users and organizations (`sshgate admin user|org ...`): they
act without anyone's password or second factor, so each is audited as the operator. The org
switch of the operator is `OrgSecurity.operator_switch`; projects and environments are
`Projects`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sshgate.accounts import end_user_access
from sshgate.policy import ORG_NAME, USERNAME, Organization, OrgRole, User
from sshgate.services.errors import InvalidRequest, NotFound
from sshgate.store import AuditEvent, ConflictError, Store

__all__ = ["Operator", "check_new_user"]

MAX_EMAIL = 254  # RFC 5321's limit on a path


def check_new_user(name: str, email: str) -> None:
    """A new user's name and email address. Pure, so that a shell may refuse them before it
    asks for a password; `Operator.add_user` applies it again."""
    if not USERNAME.fullmatch(name):
        raise InvalidRequest(f"invalid username {name!r}: expected ^[a-z][a-z0-9._-]{{1,38}}$")
    if "@" not in email or len(email) > MAX_EMAIL:
        raise InvalidRequest(f"invalid email address {email!r}")


class Operator:
    def __init__(self, store: Store, now: Callable[[], float] = time.time) -> None:
        self._store = store
        self._now = now

    async def audit(self, action: str, subject: str, detail: str | None = None) -> None:
        """Operator actions land in the same audit log as the gateway's decisions."""
        await self._store.audit(
            AuditEvent(
                time=self._now(),
                kind=f"admin:{action}",
                decision="admin",
                reason=action,
                service=subject,
                detail=detail,
            )
        )

    async def user(self, name: str) -> User:
        found = await self._store.get_user_by_name(name)
        if found is None:
            raise NotFound(f"no user named {name!r}")
        return found

    async def add_user(self, name: str, email: str, password_hash: str) -> User:
        check_new_user(name, email)
        try:
            created = await self._store.create_user(name, email, password_hash)
        except ConflictError:
            raise InvalidRequest(f"user {name!r} already exists") from None
        await self.audit("user-add", name)
        return created

    async def disable_user(self, name: str) -> User:
        """Disable NAME: their sessions end and their certificates are revoked."""
        target = await self.user(name)
        await self._store.set_user_disabled(target.id, True)
        await end_user_access(self._store, target.id, self._now())
        await self.audit("user-disable", name)
        return target

    async def enable_user(self, name: str) -> User:
        target = await self.user(name)
        await self._store.set_user_disabled(target.id, False)
        await self.audit("user-enable", name)
        return target

    async def reset_mfa(self, name: str) -> User:
        """Turn NAME's MFA off. Sessions and API tokens end (a leaked token must not outlive
        the reset of a lost authenticator); certificates already issued count as without mfa
        at the gateway."""
        target = await self.user(name)
        now = self._now()
        await self._store.reset_mfa(target.id, now)
        await self._store.revoke_user_sessions(target.id, now)
        await self._store.revoke_user_tokens(target.id, now)
        await self.audit("user-mfa-reset", name)
        return target

    async def reset_password(self, name: str, password_hash: str) -> User:
        """Set NAME's password; what a password change ends, ends."""
        target = await self.user(name)
        await self._store.set_password_hash(target.id, password_hash)
        await end_user_access(self._store, target.id, self._now())
        await self.audit("user-password-reset", name)
        return target

    # organizations

    async def org(self, name: str) -> Organization:
        found = await self._store.get_org(name)
        if found is None:
            raise NotFound(f"no organization named {name!r}")
        return found

    async def add_org(self, name: str, addons: frozenset[str]) -> None:
        if not ORG_NAME.fullmatch(name):
            raise InvalidRequest(
                f"invalid organization name {name!r}: expected ^[a-z0-9][a-z0-9-]{{1,38}}$"
            )
        try:
            await self._store.create_org(name, addons)
        except ConflictError:
            raise InvalidRequest(f"organization {name!r} already exists") from None
        await self.audit("org-add", name, ",".join(sorted(addons)) or None)

    async def set_addon(self, name: str, addon: str, on: bool) -> Organization:
        await self.org(name)
        await self._store.set_org_addon(name, addon, on)
        await self.audit(f"org-addon-{'add' if on else 'remove'}", name, addon)
        return await self.org(name)

    async def set_member(self, name: str, username: str, role: OrgRole) -> User:
        await self.org(name)
        target = await self.user(username)
        await self._store.set_member(name, target.id, role)
        await self.audit("org-member", name, f"{username}={role.value}")
        return target

    async def remove_member(self, name: str, username: str) -> User:
        await self.org(name)
        target = await self.user(username)
        await self._store.remove_member(name, target.id)
        await self.audit("org-member-remove", name, username)
        return target
