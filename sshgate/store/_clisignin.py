"""The one-time grants of the CLI's browser sign-in, for both backends: the authorization
codes of `sshgate login --web` and the device codes of `sshgate login --device`.

Each is stored by the SHA-256 of its value and taken once: a code is deleted as it is read
(DELETE ... RETURNING), a device code is decided once while pending (a conditional UPDATE)
and, once approved, taken once by the polling CLI.

Each also names the login session that allowed or approved it (`session_id`): the exchange
opens the new session only while that one is live (`create_login_session_within`), and a
password change or reset, a user disable or a logout forgets the grants (`forget_cli_grants`).
"""

from __future__ import annotations

from sshgate.store._rows import Row, decode_amr, encode_amr
from sshgate.store._sql import Database
from sshgate.store.base import AuthorizationCode, DeviceCode

_DEVICE = (
    "device_code_hash, user_code, client_id, state, user_id, amr, auth_time, expires_at,"
    " last_poll_at, session_id, requested_at, requested_from"
)


def _device_from_row(row: Row) -> DeviceCode:
    return DeviceCode(
        device_code_hash=row["device_code_hash"],
        user_code=row["user_code"],
        client_id=row["client_id"],
        expires_at=row["expires_at"],
        state=row["state"],
        user_id=row["user_id"],
        amr=decode_amr(row["amr"]) if row["amr"] else (),
        auth_time=row["auth_time"],
        last_poll_at=row["last_poll_at"],
        session_id=row["session_id"],
        requested_at=row["requested_at"],
        requested_from=row["requested_from"],
    )


class CliSignInStore:
    """Mixed into each store, which provides `_db`."""

    _db: Database

    # authorization codes of `sshgate login --web`

    async def save_authorization_code(self, code: AuthorizationCode) -> None:
        async with self._db.write() as tx:
            await tx.rows("DELETE FROM oauth_codes WHERE expires_at <= ?", code.expires_at - 600)
            await tx.rows(
                "INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri,"
                " code_challenge, amr, auth_time, expires_at, session_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                code.code_hash,
                code.client_id,
                code.user_id,
                code.redirect_uri,
                code.code_challenge,
                encode_amr(code.amr),
                code.auth_time,
                code.expires_at,
                code.session_id,
            )

    async def take_authorization_code(self, code_hash: str, now: float) -> AuthorizationCode | None:
        """The code, deleted: once, and only before it expires (a second use finds nothing)."""
        found = await self._db.rows(
            "DELETE FROM oauth_codes WHERE code_hash = ? RETURNING code_hash, client_id,"
            " user_id, redirect_uri, code_challenge, amr, auth_time, expires_at, session_id",
            code_hash,
        )
        if not found or now >= found[0]["expires_at"]:
            return None
        row = found[0]
        return AuthorizationCode(
            code_hash=row["code_hash"],
            client_id=row["client_id"],
            user_id=row["user_id"],
            redirect_uri=row["redirect_uri"],
            code_challenge=row["code_challenge"],
            amr=decode_amr(row["amr"]),
            auth_time=row["auth_time"],
            expires_at=row["expires_at"],
            session_id=row["session_id"],
        )

    # device codes of `sshgate login --device`

    async def save_device_code(self, code: DeviceCode) -> None:
        async with self._db.write(conflict="this user code is in use") as tx:
            await tx.rows("DELETE FROM device_codes WHERE expires_at <= ?", code.expires_at - 3600)
            await tx.rows(
                f"INSERT INTO device_codes ({_DEVICE}) VALUES (?, ?, ?, 'pending', NULL, NULL,"
                " NULL, ?, NULL, NULL, ?, ?)",
                code.device_code_hash,
                code.user_code,
                code.client_id,
                code.expires_at,
                code.requested_at,
                code.requested_from,
            )

    async def decide_device_code(
        self,
        user_code: str,
        approve: bool,
        user_id: str,
        amr: tuple[str, ...],
        auth_time: float,
        session_id: str,
        now: float,
    ) -> bool:
        """Approve or deny a pending, live device code once, by the login session
        `session_id`; False when there is none."""
        found = await self._db.rows(
            "UPDATE device_codes SET state = ?, user_id = ?, amr = ?, auth_time = ?,"
            " session_id = ?"
            " WHERE user_code = ? AND state = 'pending' AND expires_at > ? RETURNING user_code",
            "approved" if approve else "denied",
            user_id,
            encode_amr(amr),
            auth_time,
            session_id,
            user_code,
            now,
        )
        return bool(found)

    async def poll_device_code(self, device_code_hash: str, now: float) -> DeviceCode | None:
        """The device code as the polling CLI sees it, with the time of its previous poll
        (this poll is recorded); an approved one is taken (deleted) by this read."""
        async with self._db.write() as tx:
            row = await tx.one(
                f"SELECT {_DEVICE} FROM device_codes WHERE device_code_hash = ?",
                device_code_hash,
            )
            if row is None:
                return None
            if row["state"] == "approved":
                await tx.rows(
                    "DELETE FROM device_codes WHERE device_code_hash = ?", device_code_hash
                )
            else:
                await tx.rows(
                    "UPDATE device_codes SET last_poll_at = ? WHERE device_code_hash = ?",
                    now,
                    device_code_hash,
                )
        return _device_from_row(row)

    async def pending_device_code(self, user_code: str, now: float) -> DeviceCode | None:
        """The pending, live device code with this user code (for the approval page)."""
        row = await self._db.one(
            f"SELECT {_DEVICE} FROM device_codes"
            " WHERE user_code = ? AND state = 'pending' AND expires_at > ?",
            user_code,
            now,
        )
        return None if row is None else _device_from_row(row)

    async def forget_cli_grants(self, user_id: str, session_id: str | None = None) -> int:
        """Delete the user's authorization codes and decided device codes not yet taken (only
        those of the login session `session_id` when given); returns how many."""
        by_session = "" if session_id is None else " AND session_id = ?"
        args = (user_id,) if session_id is None else (user_id, session_id)
        async with self._db.write() as tx:
            codes = await tx.rows(
                f"DELETE FROM oauth_codes WHERE user_id = ?{by_session} RETURNING code_hash",
                *args,
            )
            devices = await tx.rows(
                f"DELETE FROM device_codes WHERE user_id = ?{by_session}"
                " RETURNING device_code_hash",
                *args,
            )
        return len(codes) + len(devices)
