"""The append-mostly half of the store (both backends): certificates, CA and gateway keys,
audit, and the policy version counter that tells gateways their cached decisions may be
stale."""

from __future__ import annotations

from typing import Literal

from sshgate.store import _rows as rows
from sshgate.store._sql import Database, Transaction
from sshgate.store.base import (
    AuditEvent,
    AuditOutcome,
    AuditRecord,
    CAKeyRecord,
    CertificateRecord,
    GatewayHostKey,
    NotFoundError,
    Revocation,
    StoreError,
)

_CERTIFICATE = (
    "serial, user_id, key_fingerprint, valid_after, valid_before, amr, jti, ca_fingerprint,"
    " issued_at, revoked_at"
)
_AUDIT = (
    "id, time, user_id, serial, client, service, kind, decision, reason, detail,"
    " bytes_in, bytes_out, exit_status, duration"
)


async def bump_policy_version(tx: Transaction) -> None:
    """Call in the transaction of any mutation that can change an access decision."""
    await tx.rows("UPDATE policy_version SET version = version + 1 WHERE id = 1")


Kind = Literal["user", "organization", "project"]
_EXISTS: dict[Kind, str] = {
    "user": "SELECT 1 FROM users WHERE id = ?",
    "organization": "SELECT 1 FROM orgs WHERE name = ?",
    "project": "SELECT 1 FROM projects WHERE id = ?",
}


async def require(tx: Transaction, kind: Kind, key: str) -> None:
    """NotFoundError, with a message naming what is missing, instead of a bare FK failure."""
    if await tx.one(_EXISTS[kind], key) is None:
        raise NotFoundError(f"{kind} {key!r} does not exist")


async def changed(tx: Transaction, kind: Kind, key: str, sql: str, *params: object) -> None:
    """Run an UPDATE ... RETURNING on one named thing and count it as a policy change."""
    if not await tx.rows(sql, *params):
        raise NotFoundError(f"{kind} {key!r} does not exist")
    await bump_policy_version(tx)


class Ledger:
    def __init__(self, db: Database) -> None:
        self._db = db

    # certificates

    async def record_certificate(self, record: CertificateRecord) -> None:
        params = rows.certificate_params(record)
        async with self._db.write(conflict=f"serial {record.serial} was already issued") as tx:
            await require(tx, "user", record.user_id)
            await tx.rows(
                f"INSERT INTO certificates ({_CERTIFICATE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *params,
            )

    async def get_certificate(self, serial: int) -> CertificateRecord | None:
        row = await self._db.one(
            f"SELECT {_CERTIFICATE} FROM certificates WHERE serial = ?", rows.serial_to_db(serial)
        )
        return None if row is None else rows.certificate_from_row(row)

    async def revoke_certificate(self, serial: int, at: float) -> bool:
        """False when no certificate has this serial; a second revocation keeps the first time."""
        stored = rows.serial_to_db(serial)
        async with self._db.write() as tx:
            found = await tx.rows(
                "UPDATE certificates SET revoked_at = COALESCE(revoked_at, ?) WHERE serial = ?"
                " RETURNING serial",
                at,
                stored,
            )
            if not found:
                return False
            await bump_policy_version(tx)
        return True

    async def revoke_user_certificates(self, user_id: str, at: float) -> int:
        """Revokes every certificate of the user not yet revoked; returns how many in the
        ledger. Certificates of `ca.trusted_public_keys` CAs with the user's id as key ID are
        revoked too: those whose validity began before `at`."""
        async with self._db.write() as tx:
            await require(tx, "user", user_id)
            revoked = await tx.rows(
                "UPDATE certificates SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
                " RETURNING serial",
                at,
                user_id,
            )
            await tx.rows(
                "INSERT INTO revoked_key_ids (key_id, revoked_at) VALUES (?, ?)"
                " ON CONFLICT (key_id) DO UPDATE SET revoked_at ="
                " CASE WHEN excluded.revoked_at > revoked_key_ids.revoked_at"
                " THEN excluded.revoked_at ELSE revoked_key_ids.revoked_at END",
                user_id,
                at,
            )
            await bump_policy_version(tx)
        return len(revoked)

    async def revoke_ca_serial(self, ca_fingerprint: str, serial: int, at: float) -> bool:
        """Revoke `serial` for the CA key `ca_fingerprint` (a KRL entry); False when it was
        already revoked (the first time is kept)."""
        async with self._db.write() as tx:
            added = await tx.rows(
                "INSERT INTO revoked_serials (ca_fingerprint, serial, revoked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (ca_fingerprint, serial) DO NOTHING RETURNING serial",
                ca_fingerprint,
                rows.serial_to_db(serial),
                at,
            )
            await bump_policy_version(tx)
        return bool(added)

    async def get_revocation(self, ca_fingerprint: str, serial: int, key_id: str) -> Revocation:
        row = await self._db.one(
            "SELECT (SELECT revoked_at FROM revoked_serials"
            " WHERE ca_fingerprint = ? AND serial = ?) AS serial_revoked_at,"
            " (SELECT revoked_at FROM revoked_key_ids WHERE key_id = ?) AS key_id_revoked_at",
            ca_fingerprint,
            rows.serial_to_db(serial),
            key_id,
        )
        if row is None:
            raise StoreError("the revocation lookup returned no row")
        return Revocation(row["serial_revoked_at"], row["key_id_revoked_at"])

    async def distrust_ca_key(self, fingerprint: str, at: float) -> bool:
        """Stop trusting a CA key on every gateway; False when it was already distrusted."""
        async with self._db.write() as tx:
            added = await tx.rows(
                "INSERT INTO distrusted_ca_keys (fingerprint, distrusted_at) VALUES (?, ?)"
                " ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint",
                fingerprint,
                at,
            )
            # Gateways reload the trusted keys when the policy moves (PostgreSQL: at once).
            await bump_policy_version(tx)
        return bool(added)

    async def list_distrusted_ca_keys(self) -> list[str]:
        found = await self._db.rows(
            "SELECT fingerprint FROM distrusted_ca_keys ORDER BY distrusted_at, fingerprint"
        )
        return [str(r["fingerprint"]) for r in found]

    # CA keys and gateway host keys

    async def record_ca_key(self, fingerprint: str, public_key: str, at: float) -> None:
        """Add a CA key (no-op when known). A key is retired when the next newer key was
        added, whatever order the CA hosts that share the key folder record them in."""
        async with self._db.write() as tx:
            inserted = await tx.rows(
                "INSERT INTO ca_keys (fingerprint, public_key, added_at, retired_at)"
                " VALUES (?, ?, ?, (SELECT MIN(added_at) FROM ca_keys WHERE added_at > ?))"
                " ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint",
                fingerprint,
                public_key,
                at,
                at,
            )
            if not inserted:
                return
            await tx.rows(
                "UPDATE ca_keys SET retired_at = ?"
                " WHERE added_at < ? AND (retired_at IS NULL OR retired_at > ?)",
                at,
                at,
                at,
            )
            # Gateways reload the trusted keys when the policy moves.
            await bump_policy_version(tx)

    async def list_ca_keys(self) -> list[CAKeyRecord]:
        found = await self._db.rows(
            "SELECT fingerprint, public_key, added_at, retired_at FROM ca_keys"
            " ORDER BY added_at, fingerprint"
        )
        return [rows.ca_key_from_row(r) for r in found]

    async def record_gateway_host_key(self, key: GatewayHostKey) -> None:
        await self._db.rows(
            "INSERT INTO gateway_host_keys (public_key, public_host, public_port, recorded_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (public_key) DO UPDATE SET"
            " public_host = excluded.public_host, public_port = excluded.public_port,"
            " recorded_at = excluded.recorded_at",
            key.public_key,
            key.public_host,
            key.public_port,
            key.recorded_at,
        )

    async def list_gateway_host_keys(self) -> list[GatewayHostKey]:
        found = await self._db.rows(
            "SELECT public_key, public_host, public_port, recorded_at FROM gateway_host_keys"
            " ORDER BY recorded_at, public_key"
        )
        return [rows.gateway_host_key_from_row(r) for r in found]

    # audit and change tracking

    async def audit(self, event: AuditEvent) -> int:
        found = await self._db.rows(
            "INSERT INTO audit (time, user_id, serial, client, service, kind, decision, reason,"
            " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            *rows.audit_params(event),
        )
        return int(found[0]["id"])

    async def audit_outcome(self, audit_id: int, outcome: AuditOutcome) -> None:
        found = await self._db.rows(
            "UPDATE audit SET bytes_in = ?, bytes_out = ?, exit_status = ?, duration = ?"
            " WHERE id = ? RETURNING id",
            outcome.bytes_in,
            outcome.bytes_out,
            outcome.exit_status,
            outcome.duration,
            audit_id,
        )
        if not found:
            raise NotFoundError(f"audit event {audit_id} does not exist")

    async def list_audit(
        self, since: float | None = None, user_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """The newest `limit` events that match, oldest first (like `tail`)."""
        if limit <= 0:
            return []
        where: list[str] = []
        params: list[object] = []
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        found = await self._db.rows(
            f"SELECT {_AUDIT} FROM audit {clause} ORDER BY time DESC, id DESC LIMIT ?",
            *params,
            limit,
        )
        return [rows.audit_from_row(r) for r in reversed(found)]

    async def policy_version(self) -> int:
        row = await self._db.one("SELECT version FROM policy_version WHERE id = 1")
        if row is None:
            raise StoreError("the policy_version row is missing")
        return int(row["version"])
