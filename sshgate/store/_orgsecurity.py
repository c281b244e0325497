"""The organization-security part of the store (both backends): MFA reminders, the members'
security listing, and the registry of sessions open through every gateway.

A reminder is claimed before it is sent and recorded as sent only after the mail server
took it: `claim_reminder` is one write() transaction (check, then insert a 'pending' row),
so two processes reminding the same user at the same moment cannot both win; the winner
then calls `mark_reminder_sent` or, when the mail failed, `release_reminder`. The rules
(one hour between reminders, how long a claim holds) come from `sshgate.policy.reminders`.

Live sessions let `sshgate org mfa-required ORG on` say how many open sessions it will
close, whichever gateway holds them: each gateway heartbeats, and sessions of a gateway
that stopped heartbeating are not counted.
"""

from __future__ import annotations

import uuid

from sshgate.policy import MFALevel, OrgRole, member_factors
from sshgate.store._rows import Row, serial_to_db
from sshgate.store._sql import Database
from sshgate.store.base import LiveSession, MemberSecurity, NotFoundError

# Sessions of a gateway silent this long are deleted (by any gateway's heartbeat).
FORGET_GATEWAY_AFTER = 3600.0

_LAST_SENT = (
    "SELECT user_id, MAX(sent_at) AS last_reminded FROM reminders"
    " WHERE org = ? AND state = 'sent' GROUP BY user_id"
)


def _member_security_from_row(row: Row) -> MemberSecurity:
    return MemberSecurity(
        user_id=row["id"],
        username=row["username"],
        email=row["email"],
        role=OrgRole(row["role"]),
        mfa=bool(row["mfa_enabled"]),
        mfa_since=row["mfa_since"],
        last_reminded=row["last_reminded"],
        factors=member_factors(
            bool(row["mfa_enabled"]), bool(row["has_app"]), bool(row["has_key"])
        ),
    )


class OrgSecurityStore:
    """Mixed into each store, which provides `_db`."""

    _db: Database

    # the security listing

    async def list_member_security(self, org: str) -> list[MemberSecurity]:
        """Every member of `org` by username, with MFA status, factors and last reminder;
        empty for an unknown org."""
        found = await self._db.rows(
            "SELECT u.id, u.username, u.email, m.role, u.mfa_enabled, u.mfa_since,"
            " r.last_reminded, CASE WHEN u.mfa_secret_enc IS NULL THEN 0 ELSE 1 END AS has_app,"
            " CASE WHEN EXISTS (SELECT 1 FROM security_keys k WHERE k.user_id = u.id)"
            " THEN 1 ELSE 0 END AS has_key"
            " FROM org_members m JOIN users u ON u.id = m.user_id"
            f" LEFT JOIN ({_LAST_SENT}) r ON r.user_id = u.id"
            " WHERE m.org = ? ORDER BY u.username",
            org,
            org,
        )
        return [_member_security_from_row(r) for r in found]

    # reminders

    async def last_reminders(self, org: str) -> dict[str, float]:
        """user id -> when the last reminder (of `org`) was sent to them."""
        found = await self._db.rows(_LAST_SENT, org)
        return {str(r["user_id"]): float(r["last_reminded"]) for r in found}

    async def record_reminder(self, org: str, user_id: str, sent_by: str | None, at: float) -> str:
        """Record a reminder already sent; returns its id."""
        reminder_id = str(uuid.uuid4())
        await self._db.rows(
            "INSERT INTO reminders (id, org, user_id, sent_by, state, claimed_at, sent_at)"
            " VALUES (?, ?, ?, ?, 'sent', ?, ?)",
            reminder_id,
            org,
            user_id,
            sent_by,
            at,
            at,
        )
        return reminder_id

    async def claim_reminder(
        self,
        org: str,
        user_id: str,
        sent_by: str | None,
        now: float,
        interval: float,
        force: bool,
        claim_ttl: float,
    ) -> str | None:
        """Take the slot for one reminder to `user_id`: returns the claim's id, or None when
        a reminder was sent less than `interval` ago (ignored when `force`) or another
        claim younger than `claim_ttl` is still in flight (never ignored: a forced reminder
        must not go out twice at once either)."""
        reminder_id = str(uuid.uuid4())
        async with self._db.write() as tx:
            if await tx.one(
                "SELECT 1 FROM reminders WHERE org = ? AND user_id = ? AND ("
                " (state = 'pending' AND claimed_at > ?)"
                " OR (? = 0 AND state = 'sent' AND sent_at > ?)) LIMIT 1",
                org,
                user_id,
                now - claim_ttl,
                int(force),
                now - interval,
            ):
                return None
            await tx.rows(
                "INSERT INTO reminders (id, org, user_id, sent_by, state, claimed_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                reminder_id,
                org,
                user_id,
                sent_by,
                now,
            )
        return reminder_id

    async def mark_reminder_sent(self, reminder_id: str, at: float) -> None:
        """The mail server took the reminder claimed as `reminder_id`."""
        if not await self._db.rows(
            "UPDATE reminders SET state = 'sent', sent_at = ? WHERE id = ? AND state = 'pending'"
            " RETURNING id",
            at,
            reminder_id,
        ):
            raise NotFoundError(f"no pending reminder {reminder_id!r}")

    async def release_reminder(self, reminder_id: str) -> None:
        """Give up a claim whose mail was not sent: nothing is recorded."""
        await self._db.rows("DELETE FROM reminders WHERE id = ? AND state = 'pending'", reminder_id)

    # live sessions

    async def gateway_heartbeat(self, gateway_id: str, at: float) -> None:
        """The gateway `gateway_id` is alive at `at`. Also forgets the sessions of gateways
        silent for FORGET_GATEWAY_AFTER seconds (a crashed process never closes its own)."""
        forget_before = at - FORGET_GATEWAY_AFTER
        async with self._db.write() as tx:
            await tx.rows(
                "INSERT INTO gateway_instances (id, heartbeat_at) VALUES (?, ?)"
                " ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                gateway_id,
                at,
            )
            await tx.rows(
                "DELETE FROM live_sessions WHERE gateway_id IN"
                " (SELECT id FROM gateway_instances WHERE heartbeat_at < ?)",
                forget_before,
            )
            await tx.rows("DELETE FROM gateway_instances WHERE heartbeat_at < ?", forget_before)

    async def open_live_session(self, session: LiveSession) -> None:
        await self._db.rows(
            "INSERT INTO live_sessions"
            " (id, gateway_id, user_id, serial, project_id, org, has_mfa, has_key, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            session.id,
            session.gateway_id,
            session.user_id,
            serial_to_db(session.serial),
            session.project_id,
            session.org,
            int(session.has_mfa),
            int(session.has_key),
            session.opened_at,
            conflict=f"live session {session.id!r} is already open",
        )

    async def close_live_session(self, session_id: str) -> None:
        """Idempotent: closing an unknown or already closed session does nothing."""
        await self._db.rows("DELETE FROM live_sessions WHERE id = ?", session_id)

    async def forget_gateway(self, gateway_id: str) -> int:
        """A gateway stops: its sessions and its heartbeat go. Returns how many sessions."""
        async with self._db.write() as tx:
            ended = await tx.rows(
                "DELETE FROM live_sessions WHERE gateway_id = ? RETURNING id", gateway_id
            )
            await tx.rows("DELETE FROM gateway_instances WHERE id = ?", gateway_id)
        return len(ended)

    async def count_sessions_without_mfa(
        self, org: str, now: float, stale_after: float = 30, level: MFALevel = MFALevel.ANY
    ) -> int:
        """Open sessions into `org`'s services whose user does not count as having MFA at
        `level`: the gateway saw no `mfa` at open (at phishing-resistant: no key), or the
        user's MFA was reset or disabled since. Sessions of gateways whose last heartbeat is
        older than `stale_after` seconds are ignored."""
        row = await self._db.one(
            "SELECT COUNT(*) AS n FROM live_sessions s"
            " JOIN gateway_instances g ON g.id = s.gateway_id"
            " LEFT JOIN users u ON u.id = s.user_id"
            " WHERE s.org = ? AND g.heartbeat_at >= ? AND (s.has_mfa = 0"
            " OR (? = 1 AND s.has_key = 0)"
            " OR COALESCE(u.mfa_enabled, 0) = 0"
            " OR (u.mfa_revoked_at IS NOT NULL AND u.mfa_revoked_at > s.opened_at))",
            org,
            now - stale_after,
            int(MFALevel(level) is MFALevel.PHISHING_RESISTANT),
        )
        return 0 if row is None else int(row["n"])
