"""Security keys and passkeys (WebAuthn credentials) and their one-time challenges, for both
backends.

* A challenge is taken once: `take_webauthn_challenge` deletes and returns it in one
  statement, and only for the user, purpose and binding (the sign-in or login session that
  asked for it) it was made for, before it expires. A second taker gets None.
* A signature counter only moves forward: `use_security_key` updates the row only when the
  new counter is above the stored one (or both are 0: authenticators without a counter), in
  one conditional UPDATE, so two assertions racing with one counter value cannot both pass.
* Adding the first key of a user without MFA turns MFA on in the same transaction (with the
  recovery codes the caller made), as "Verify & save" does for an authenticator app.
* A key is removed only while another second factor remains (another key, an authenticator
  app) or with a code verified for the removal, decided in the delete's write transaction, so
  two removals racing cannot take away the last factor without a code.
  Removing the last key of a user who has no authenticator app turns MFA off as disabling it
  does (sessions end, certificates count as without `mfa`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sshgate.store._accounts import _disable_mfa, _set_recovery_codes
from sshgate.store._ledger import bump_policy_version
from sshgate.store._rows import Row
from sshgate.store._sql import Database
from sshgate.store.base import KeyRemoval, SecurityKey, WebAuthnChallenge

_KEY = "id, user_id, name, credential_id, public_key, sign_count, created_at, last_used_at"


def _key_from_row(row: Row) -> SecurityKey:
    return SecurityKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        credential_id=row["credential_id"],
        public_key=row["public_key"],
        sign_count=int(row["sign_count"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


class SecurityKeyStore:
    """Mixed into each store, which provides `_db`."""

    _db: Database

    async def add_security_key(
        self, key: SecurityKey, code_hashes: Sequence[str] | None, at: float
    ) -> bool:
        """Record `key`. When the user has no MFA yet, MFA goes on with it, and with
        `code_hashes` as recovery codes when given. Returns whether MFA went on now."""
        async with self._db.write(conflict="this security key is already registered") as tx:
            await tx.rows(
                f"INSERT INTO security_keys ({_KEY}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                key.id,
                key.user_id,
                key.name,
                key.credential_id,
                key.public_key,
                key.sign_count,
                key.created_at,
                key.last_used_at,
            )
            enabled = await tx.rows(
                "UPDATE users SET mfa_enabled = 1, mfa_since = ?, mfa_failures = 0,"
                " mfa_locked_until = NULL WHERE id = ? AND mfa_enabled = 0 RETURNING id",
                at,
                key.user_id,
            )
            if enabled:
                if code_hashes:
                    await _set_recovery_codes(tx, key.user_id, code_hashes, at)
                await bump_policy_version(tx)
        return bool(enabled)

    async def list_security_keys(self, user_id: str) -> list[SecurityKey]:
        found = await self._db.rows(
            f"SELECT {_KEY} FROM security_keys WHERE user_id = ? ORDER BY created_at, name, id",
            user_id,
        )
        return [_key_from_row(r) for r in found]

    async def use_security_key(self, user_id: str, key_id: str, sign_count: int, at: float) -> bool:
        """Record a verified assertion: true only when `sign_count` moves the stored counter
        forward (or both are 0); a success also resets the second factor's failure count, as
        a correct code does. A counter that did not move forward changes nothing.

        Every `?` of the counter is compared with the BIGINT column, never with a literal:
        PostgreSQL would type `? = 0` as a 32-bit integer, and WebAuthn counters go up to
        2**32 - 1."""
        async with self._db.write() as tx:
            found = await tx.rows(
                "UPDATE security_keys SET sign_count = ?, last_used_at = ?"
                " WHERE id = ? AND user_id = ?"
                " AND (sign_count < ? OR (sign_count = 0 AND sign_count = ?))"
                " RETURNING id",
                sign_count,
                at,
                key_id,
                user_id,
                sign_count,
                sign_count,
            )
            if found:
                await tx.rows(
                    "UPDATE users SET mfa_failures = 0, mfa_locked_until = NULL WHERE id = ?",
                    user_id,
                )
        return bool(found)

    async def remove_security_key(
        self, user_id: str, key_id: str, at: float, code_verified: bool
    ) -> tuple[KeyRemoval, int]:
        """Remove one of the user's keys, only while another second factor remains (another
        key or an authenticator app) unless a code was verified for this removal: the
        decision is taken in the delete's write transaction (serialized on both backends:
        SQLite's BEGIN IMMEDIATE, PostgreSQL's write lock), so two removals racing cannot both
        take the "not the last" branch. Without another factor
        and without a code, nothing changes and the answer is LAST. When the last factor
        goes, MFA goes off as `disable_mfa` does. Returns (outcome, sessions ended)."""
        async with self._db.write() as tx:
            if not await tx.one(
                "SELECT 1 FROM security_keys WHERE id = ? AND user_id = ?", key_id, user_id
            ):
                return KeyRemoval.NOT_FOUND, 0
            if not code_verified and not await tx.one(
                "SELECT 1 FROM users u WHERE u.id = ? AND (u.mfa_secret_enc IS NOT NULL"
                " OR EXISTS (SELECT 1 FROM security_keys k WHERE k.user_id = u.id AND k.id <> ?))",
                user_id,
                key_id,
            ):
                return KeyRemoval.LAST, 0
            await tx.rows("DELETE FROM security_keys WHERE id = ? AND user_id = ?", key_id, user_id)
            ended = 0
            # The last key of a user without an authenticator app: nothing left to sign in
            # with as a second factor, so MFA goes off (a code was verified for it).
            if await tx.one(
                "SELECT 1 FROM users u WHERE u.id = ? AND u.mfa_enabled = 1"
                " AND u.mfa_secret_enc IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM security_keys k WHERE k.user_id = u.id)",
                user_id,
            ):
                ended = await _disable_mfa(tx, user_id, at)
            await bump_policy_version(tx)
        return KeyRemoval.REMOVED, ended

    async def save_webauthn_challenge(self, challenge: WebAuthnChallenge, now: float) -> None:
        """Keep a new challenge (and forget expired ones)."""
        async with self._db.write() as tx:
            await tx.rows("DELETE FROM webauthn_challenges WHERE expires_at <= ?", now)
            await tx.rows(
                "INSERT INTO webauthn_challenges"
                " (id, user_id, purpose, challenge, bound_to, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                challenge.id,
                challenge.user_id,
                challenge.purpose,
                challenge.challenge,
                challenge.bound_to,
                challenge.expires_at,
            )

    async def take_webauthn_challenge(
        self, challenge_id: str, user_id: str, purpose: str, bound_to: str, now: float
    ) -> WebAuthnChallenge | None:
        """The challenge, deleted: once, for the user, purpose and binding it was made for,
        while it has not expired. None otherwise (it is gone either way)."""
        found = await self._db.rows(
            "DELETE FROM webauthn_challenges WHERE id = ?"
            " RETURNING id, user_id, purpose, challenge, bound_to, expires_at",
            challenge_id,
        )
        if not found:
            return None
        row = found[0]
        taken = WebAuthnChallenge(
            id=row["id"],
            user_id=row["user_id"],
            purpose=row["purpose"],
            challenge=row["challenge"],
            bound_to=row["bound_to"],
            expires_at=row["expires_at"],
        )
        if (taken.user_id, taken.purpose, taken.bound_to) != (user_id, purpose, bound_to):
            return None
        return taken if now < taken.expires_at else None
