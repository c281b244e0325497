"""An authenticator app (TOTP) being set up, and the verified one, for both backends.

A setup's secret (encrypted) waits in `totp_setups`, one row per user, never in
`users.mfa_secret_enc`: only a verified secret is there, so nothing that asks "which second
factors does this user have" (a login's code, the last-factor rule of key removal, the
members' factors) can see a secret nobody proved to hold.

* `save_totp_setup` replaces the user's setup (a new one makes the old one useless) and is
  refused while an app is verified; expired setups of every user are forgotten on the way.
* `confirm_totp_setup` takes the setup and makes it the verified secret in one write
  transaction (serialized on both backends), re-checking there what the service checked
  before: the setup is still the one the code was checked against and has not expired, no
  app was verified meanwhile, and MFA did not go on meanwhile for a login without MFA.
  Recovery codes: a user whose MFA goes on with the app gets the new ones (replacing any
  older ones); a user whose MFA was already on through security keys keeps their unused
  codes, and gets the new ones only when none is left.
* `remove_totp` removes the verified app; when it was the last second factor (no security
  key left), MFA goes off as `disable_mfa` does, decided in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sshgate.store._accounts import _disable_mfa, _set_recovery_codes
from sshgate.store._ledger import bump_policy_version
from sshgate.store._sql import Database
from sshgate.store.base import AppConfirmation, AppRemoved

_HAS_APP = "mfa_enabled = 1 AND mfa_secret_enc IS NOT NULL"


class TOTPSetupStore:
    """Mixed into each store, which provides `_db`."""

    _db: Database

    async def save_totp_setup(
        self, user_id: str, secret_enc: bytes, at: float, expires_at: float
    ) -> bool:
        """Keep `secret_enc` as the user's setup until `expires_at`, replacing an older one;
        False (nothing kept) when the user is unknown or already has a verified app."""
        async with self._db.write() as tx:
            await tx.rows("DELETE FROM totp_setups WHERE expires_at <= ?", at)
            if not await tx.one(f"SELECT 1 FROM users WHERE id = ? AND NOT ({_HAS_APP})", user_id):
                return False
            await tx.rows(
                "INSERT INTO totp_setups (user_id, secret_enc, started_at, expires_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                " secret_enc = excluded.secret_enc, started_at = excluded.started_at,"
                " expires_at = excluded.expires_at",
                user_id,
                secret_enc,
                at,
                expires_at,
            )
        return True

    async def get_totp_setup(self, user_id: str, now: float) -> bytes | None:
        """The encrypted secret of the user's setup, while it has not expired."""
        row = await self._db.one(
            "SELECT secret_enc FROM totp_setups WHERE user_id = ? AND expires_at > ?",
            user_id,
            now,
        )
        return None if row is None else bytes(row["secret_enc"])

    async def confirm_totp_setup(
        self,
        user_id: str,
        secret_enc: bytes,
        code_hashes: Sequence[str],
        at: float,
        mfa_login: bool,
    ) -> AppConfirmation:
        """Make the setup `secret_enc` (a correct code was just checked against it) the
        user's verified app; see the module's docstring for the rules and the recovery
        codes. `mfa_login`: the login asking has MFA in its amr."""
        async with self._db.write(conflict="duplicate recovery code") as tx:
            user = await tx.one(
                "SELECT u.mfa_enabled, u.mfa_secret_enc FROM users u JOIN totp_setups s"
                " ON s.user_id = u.id WHERE u.id = ? AND s.secret_enc = ? AND s.expires_at > ?",
                user_id,
                secret_enc,
                at,
            )
            if user is None:
                return AppConfirmation.NOT_PENDING
            was_on = bool(user["mfa_enabled"])
            if was_on and (user["mfa_secret_enc"] is not None or not mfa_login):
                return AppConfirmation.REFUSED
            await tx.rows("DELETE FROM totp_setups WHERE user_id = ?", user_id)
            # mfa_since stays when MFA was already on (through security keys).
            await tx.rows(
                "UPDATE users SET mfa_secret_enc = ?,"
                " mfa_since = CASE WHEN mfa_enabled = 1 THEN mfa_since ELSE ? END,"
                " mfa_enabled = 1, mfa_failures = 0, mfa_locked_until = NULL WHERE id = ?",
                secret_enc,
                at,
                user_id,
            )
            outcome = AppConfirmation.ENABLED
            if was_on:
                outcome = AppConfirmation.ADDED
                if not await tx.one(
                    "SELECT 1 FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
                    user_id,
                ):
                    outcome = AppConfirmation.ADDED_WITH_CODES
            if outcome is not AppConfirmation.ADDED:
                await _set_recovery_codes(tx, user_id, code_hashes, at)
            await bump_policy_version(tx)
        return outcome

    async def remove_totp(self, user_id: str, at: float) -> AppRemoved | None:
        """Remove the user's verified app (None: there is none). When no security key is
        left, MFA goes off with it (sessions end, recovery codes go, certificates count as
        without `mfa`), decided in the same transaction."""
        async with self._db.write() as tx:
            if not await tx.rows(
                f"UPDATE users SET mfa_secret_enc = NULL WHERE id = ? AND {_HAS_APP} RETURNING id",
                user_id,
            ):
                return None
            removed = AppRemoved(mfa_off=False, sessions_ended=0)
            if not await tx.one("SELECT 1 FROM security_keys WHERE user_id = ?", user_id):
                removed = AppRemoved(
                    mfa_off=True, sessions_ended=await _disable_mfa(tx, user_id, at)
                )
            await bump_policy_version(tx)
        return removed
