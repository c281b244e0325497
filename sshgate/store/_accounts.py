"""The accounts half of the store (both backends): login sessions, API tokens, the second
factor's state (TOTP step, failure count, lock, recovery codes) and the password throttle.

Whatever must hold across processes sharing the database is one SQL statement or one
write() transaction here, never a read in Python followed by a write: a TOTP time step is
accepted by a compare-and-set, a failed code is counted by an increment that also sets the
lock, a recovery code is spent by an UPDATE ... WHERE used_at IS NULL. The rules (limits,
durations) come from `sshgate.accounts`; this module only makes them atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sshgate.store._ledger import bump_policy_version
from sshgate.store._rows import Row, decode_amr, encode_amr
from sshgate.store._sql import Database, Transaction
from sshgate.store.base import (
    ApiToken,
    LoginSession,
    MFAAttempt,
    MFAState,
    NotFoundError,
    ThrottleRecord,
    ThrottleRule,
    ThrottleScope,
)

_SESSION = "id, user_id, token_hash, amr, auth_time, created_at, expires_at, revoked_at, client"
_INSERT_SESSION = f"INSERT INTO login_sessions ({_SESSION}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_TOKEN = (
    "id, user_id, name, token_hash, amr, auth_time, created_at, revoked_at, last_used_at,"
    " scope, expires_at"
)
_MFA = "id, mfa_enabled, mfa_secret_enc, mfa_last_step, mfa_failures, mfa_locked_until"


class _Refused(Exception):
    """Rolls back an attempt that one of its keys refused."""


def _session_from_row(row: Row) -> LoginSession:
    return LoginSession(
        id=row["id"],
        user_id=row["user_id"],
        token_hash=row["token_hash"],
        amr=decode_amr(row["amr"]),
        auth_time=row["auth_time"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        client=row["client"],
    )


def _token_from_row(row: Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        amr=decode_amr(row["amr"]),
        auth_time=row["auth_time"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        scope="account" if row["scope"] == "account" else "certificate",
        expires_at=row["expires_at"],
    )


def _mfa_from_row(row: Row) -> MFAState:
    secret = row["mfa_secret_enc"]
    return MFAState(
        user_id=row["id"],
        enabled=bool(row["mfa_enabled"]),
        secret_enc=None if secret is None else bytes(secret),
        last_step=row["mfa_last_step"],
        failures=row["mfa_failures"],
        locked_until=row["mfa_locked_until"],
    )


async def _revoke_certificates_of(tx: Transaction, user_id: str, jti: str, at: float) -> None:
    await tx.rows(
        "UPDATE certificates SET revoked_at = ? WHERE user_id = ? AND jti = ?"
        " AND revoked_at IS NULL",
        at,
        user_id,
        jti,
    )


def _session_values(session: LoginSession) -> tuple[object, ...]:
    return (
        session.id,
        session.user_id,
        session.token_hash,
        encode_amr(session.amr),
        session.auth_time,
        session.created_at,
        session.expires_at,
        session.revoked_at,
        session.client,
    )


async def _end_sessions(tx: Transaction, user_id: str, at: float) -> int:
    ended = await tx.rows(
        "UPDATE login_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
        " RETURNING id",
        at,
        user_id,
    )
    return len(ended)


async def _disable_mfa(tx: Transaction, user_id: str, at: float) -> int:
    """MFA off with every factor (app secret, security keys, recovery codes) and any app
    setup in progress, sessions ended; returns how many. The caller bumps the policy
    version."""
    if not await tx.rows(
        "UPDATE users SET mfa_enabled = 0, mfa_since = NULL, mfa_secret_enc = NULL,"
        " mfa_failures = 0, mfa_locked_until = NULL, mfa_revoked_at = ?"
        " WHERE id = ? RETURNING id",
        at,
        user_id,
    ):
        raise NotFoundError(f"user {user_id!r} does not exist")
    ended = await _end_sessions(tx, user_id, at)
    await tx.rows("DELETE FROM recovery_codes WHERE user_id = ?", user_id)
    await tx.rows("DELETE FROM security_keys WHERE user_id = ?", user_id)
    await tx.rows("DELETE FROM totp_setups WHERE user_id = ?", user_id)
    return ended


async def _set_recovery_codes(
    tx: Transaction, user_id: str, code_hashes: Sequence[str], at: float
) -> None:
    await tx.rows("DELETE FROM recovery_codes WHERE user_id = ?", user_id)
    for code_hash in code_hashes:
        await tx.rows(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
            user_id,
            code_hash,
            at,
        )


class AccountStore:
    """Mixed into each store, which provides `_db`."""

    _db: Database

    # login sessions

    async def create_login_session(self, session: LoginSession) -> None:
        await self._db.rows(
            _INSERT_SESSION,
            *_session_values(session),
            conflict="login session already exists",
        )

    async def create_login_session_within(
        self, session: LoginSession, approving_id: str, now: float
    ) -> LoginSession | None:
        """Record `session` only while the login session `approving_id` of the same user is
        live (not revoked, not expired), ending no later than it; None otherwise. Checked and
        written in one write transaction (write transactions are serialized on both
        backends), so a revocation of the user's sessions either sees the new session or is
        seen by the check."""
        async with self._db.write(conflict="login session already exists") as tx:
            approving = await tx.one(
                "SELECT expires_at FROM login_sessions WHERE id = ? AND user_id = ?"
                " AND revoked_at IS NULL AND expires_at > ?",
                approving_id,
                session.user_id,
                now,
            )
            if approving is None:
                return None
            session = replace(
                session, expires_at=min(session.expires_at, float(approving["expires_at"]))
            )
            await tx.rows(_INSERT_SESSION, *_session_values(session))
        return session

    async def get_login_session(self, token_hash: str) -> LoginSession | None:
        """The session whose bearer hashes to `token_hash`, revoked or expired ones included."""
        row = await self._db.one(
            f"SELECT {_SESSION} FROM login_sessions WHERE token_hash = ?", token_hash
        )
        return None if row is None else _session_from_row(row)

    async def revoke_login_session(self, session_id: str, at: float) -> bool:
        """End the session and, in the same transaction, revoke the certificates it got (a
        certificate never outlives its login session). False when no live session has this
        id."""
        async with self._db.write() as tx:
            found = await tx.rows(
                "UPDATE login_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
                " RETURNING user_id",
                at,
                session_id,
            )
            if not found:
                return False
            await _revoke_certificates_of(tx, str(found[0]["user_id"]), session_id, at)
            await bump_policy_version(tx)
        return True

    async def revoke_user_sessions(self, user_id: str, at: float) -> int:
        """End every live session of the user (password change, user disable, MFA reset or
        disable); returns how many. Certificates are revoked separately."""
        async with self._db.write() as tx:
            ended = await _end_sessions(tx, user_id, at)
            await bump_policy_version(tx)
        return ended

    # API tokens

    async def create_api_token(self, token: ApiToken) -> None:
        await self._db.rows(
            f"INSERT INTO api_tokens ({_TOKEN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            token.id,
            token.user_id,
            token.name,
            token.token_hash,
            encode_amr(token.amr),
            token.auth_time,
            token.created_at,
            token.revoked_at,
            token.last_used_at,
            token.scope,
            token.expires_at,
            conflict="API token already exists",
        )

    async def get_api_token(self, token_hash: str) -> ApiToken | None:
        row = await self._db.one(
            f"SELECT {_TOKEN} FROM api_tokens WHERE token_hash = ?", token_hash
        )
        return None if row is None else _token_from_row(row)

    async def list_api_tokens(self, user_id: str) -> list[ApiToken]:
        """The user's tokens that are not revoked, oldest first."""
        found = await self._db.rows(
            f"SELECT {_TOKEN} FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL"
            " ORDER BY created_at, id",
            user_id,
        )
        return [_token_from_row(r) for r in found]

    async def revoke_api_token(self, user_id: str, token_id: str, at: float) -> bool:
        """Revoke the token and the certificates it got. False when the user has no live
        token with this id (another user's counts as none)."""
        async with self._db.write() as tx:
            found = await tx.rows(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ?"
                " AND revoked_at IS NULL RETURNING id",
                at,
                token_id,
                user_id,
            )
            if not found:
                return False
            await _revoke_certificates_of(tx, user_id, token_id, at)
            await bump_policy_version(tx)
        return True

    async def revoke_user_tokens(self, user_id: str, at: float) -> int:
        """End every live API token of the user (password change or reset, user disable, MFA
        reset); returns how many. Their certificates are dealt with by the caller's rule."""
        async with self._db.write() as tx:
            ended = await tx.rows(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
                " RETURNING id",
                at,
                user_id,
            )
            await bump_policy_version(tx)
        return len(ended)

    async def touch_api_token(self, token_id: str, at: float, min_interval: float) -> None:
        """Record a use; at most one write per `min_interval`, so a busy bot is not a
        write per request."""
        await self._db.rows(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ?"
            " AND (last_used_at IS NULL OR last_used_at <= ?)",
            at,
            token_id,
            at - min_interval,
        )

    # the second factor

    async def get_mfa_state(self, user_id: str) -> MFAState | None:
        row = await self._db.one(f"SELECT {_MFA} FROM users WHERE id = ?", user_id)
        return None if row is None else _mfa_from_row(row)

    async def accept_totp_step(self, user_id: str, step: int, now: float) -> bool:
        """Spend TOTP time step `step`: true for exactly one caller, and only when it is later
        than every step accepted before. A success also resets the failure count and lifts a
        lock (the attempt's slot was taken, lock checked, by `take_mfa_attempt`)."""
        found = await self._db.rows(
            "UPDATE users SET mfa_last_step = ?, mfa_failures = 0, mfa_locked_until = NULL"
            " WHERE id = ? AND (mfa_last_step IS NULL OR mfa_last_step < ?) RETURNING id",
            step,
            user_id,
            step,
        )
        return bool(found)

    async def take_mfa_attempt(
        self, user_id: str, now: float, limit: int, lock_seconds: float
    ) -> MFAAttempt:
        """Take a slot for checking one code of a user with MFA, counted as a failure before
        the check (a correct code resets the count). The `limit`-th consecutive slot locks the
        second factor until now + lock_seconds and restarts the count; a locked second
        factor (or none) gives no slot. One statement, so concurrent codes never share a
        slot, whichever process checks them."""
        # Both CASEs read the row's values from before the UPDATE (standard SQL).
        found = await self._db.rows(
            "UPDATE users SET"
            " mfa_failures = CASE WHEN mfa_failures + 1 >= ? THEN 0 ELSE mfa_failures + 1 END,"
            " mfa_locked_until = CASE WHEN mfa_failures + 1 >= ? THEN ?"
            " ELSE CAST(NULL AS DOUBLE PRECISION) END"
            " WHERE id = ? AND mfa_enabled = 1"
            " AND (mfa_locked_until IS NULL OR mfa_locked_until <= ?)"
            " RETURNING mfa_locked_until",
            limit,
            limit,
            now + lock_seconds,
            user_id,
            now,
        )
        if found:
            locks = found[0]["mfa_locked_until"]
            return MFAAttempt(taken=True, locked_until=None if locks is None else float(locks))
        state = await self.get_mfa_state(user_id)
        locked = None if state is None else state.locked_until
        return MFAAttempt(taken=False, locked_until=locked)

    async def disable_mfa(self, user_id: str, at: float) -> int:
        """MFA off, as `reset_mfa` does (mfa_revoked_at = at, so every certificate and token
        from before counts as without mfa), and, in the same transaction, the user's login
        sessions end and the recovery codes go. Returns how many sessions ended."""
        async with self._db.write() as tx:
            ended = await _disable_mfa(tx, user_id, at)
            await bump_policy_version(tx)
        return ended

    async def replace_recovery_codes(
        self, user_id: str, code_hashes: Sequence[str], at: float
    ) -> None:
        """The user's recovery codes become exactly these (older ones stop working)."""
        async with self._db.write(conflict="duplicate recovery code") as tx:
            await _set_recovery_codes(tx, user_id, code_hashes, at)

    async def unused_recovery_codes(self, user_id: str) -> list[str]:
        """The hashes of the user's recovery codes not used yet."""
        found = await self._db.rows(
            "SELECT code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
            user_id,
        )
        return [str(r["code_hash"]) for r in found]

    async def use_recovery_code(self, user_id: str, code_hash: str, at: float) -> bool:
        """Spend one recovery code: true for exactly one caller. A success also resets the
        second factor's failure count, as a correct TOTP code does."""
        async with self._db.write() as tx:
            if not await tx.rows(
                "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ?"
                " AND used_at IS NULL RETURNING code_hash",
                at,
                user_id,
                code_hash,
            ):
                return False
            await tx.rows(
                "UPDATE users SET mfa_failures = 0, mfa_locked_until = NULL WHERE id = ?", user_id
            )
        return True

    # the password throttle

    async def read_login_throttle(
        self, keys: Sequence[tuple[ThrottleScope, str]]
    ) -> list[ThrottleRecord]:
        if not keys:
            return []
        where = " OR ".join("(scope = ? AND subject = ?)" for _ in keys)
        params = [value for key in keys for value in key]
        found = await self._db.rows(
            f"SELECT scope, subject, failures, last_failure_at FROM login_throttle WHERE {where}",
            *params,
        )
        return [
            ThrottleRecord(
                scope=r["scope"],
                subject=r["subject"],
                failures=r["failures"],
                last_failure_at=r["last_failure_at"],
            )
            for r in found
        ]

    async def take_login_attempt(
        self, keys: Sequence[tuple[ThrottleScope, str]], now: float, rule: ThrottleRule
    ) -> bool:
        """Take an attempt slot for every key, or for none: each key's count goes up by one
        *before* the password is checked (a success clears it afterwards), and the whole
        attempt is refused when one key has `rule.limit` failures and its last one is less
        than `rule.interval` old. One transaction, one conditional upsert per key (row locks
        on PostgreSQL, the write lock on SQLite), so concurrent attempts, in this process or
        another, never share a slot. Counts whose last failure is older than
        `rule.forget_after` start again."""
        forget_before = now - rule.forget_after
        await self._db.rows("DELETE FROM login_throttle WHERE last_failure_at < ?", forget_before)
        try:
            async with self._db.write() as tx:
                # Always the same order, so that two attempts never wait on each other's rows.
                for scope, subject in sorted(keys):
                    if not await tx.rows(
                        "INSERT INTO login_throttle (scope, subject, failures, last_failure_at)"
                        " VALUES (?, ?, 1, ?) ON CONFLICT (scope, subject) DO UPDATE SET"
                        " failures = CASE WHEN login_throttle.last_failure_at < ? THEN 1"
                        " ELSE login_throttle.failures + 1 END,"
                        " last_failure_at = excluded.last_failure_at"
                        " WHERE login_throttle.last_failure_at < ? OR login_throttle.failures < ?"
                        " OR login_throttle.last_failure_at <= ? RETURNING failures",
                        scope,
                        subject,
                        now,
                        forget_before,
                        forget_before,
                        rule.limit,
                        now - rule.interval,
                    ):
                        raise _Refused()
        except _Refused:
            return False
        return True

    async def clear_login_failures(self, keys: Sequence[tuple[ThrottleScope, str]]) -> None:
        """Forget the counts of these keys (a correct password)."""
        async with self._db.write() as tx:
            for scope, subject in sorted(keys):
                await tx.rows(
                    "DELETE FROM login_throttle WHERE scope = ? AND subject = ?", scope, subject
                )
