"""Column encodings: the one place that turns rows into the model's values and back.

Nothing here knows SQLite: both sqlite3 and asyncpg rows answer `row["column"]`, so a
PostgreSQL store can share these helpers along with the migrations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from sshgate.policy import Endpoint, Environment, MFALevel, Organization, Project, User
from sshgate.store.base import (
    AuditEvent,
    AuditOutcome,
    AuditRecord,
    CAKeyRecord,
    CertificateRecord,
    GatewayHostKey,
)


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1


def serial_to_db(serial: int) -> int:
    """OpenSSH serials are unsigned 64-bit and SQL BIGINT is signed: store the two's-complement
    reinterpretation, which keeps every serial distinct, an integer and indexable."""
    if not 0 <= serial < _U64:
        raise ValueError(f"certificate serial out of range: {serial}")
    return serial - _U64 if serial > _I64_MAX else serial


def serial_from_db(value: int) -> int:
    return value + _U64 if value < 0 else value


def optional_serial_from_db(value: int | None) -> int | None:
    return None if value is None else serial_from_db(value)


def check_bigint(name: str, value: int) -> int:
    # sqlite3 raises OverflowError (not a sqlite3.Error) past 64 bits; say which field it was.
    if not -_I64_MAX - 1 <= value <= _I64_MAX:
        raise ValueError(f"{name} does not fit in 64 bits: {value}")
    return value


def join_host_keys(keys: Iterable[str]) -> str:
    lines = list(keys)
    for key in lines:
        if not key.strip() or "\n" in key or "\r" in key:
            raise ValueError("a host key must be one non-empty line")
    return "\n".join(lines)


def split_host_keys(text: str | None) -> tuple[str, ...]:
    return tuple(line for line in (text or "").split("\n") if line)


def encode_amr(amr: Iterable[str]) -> str:
    return json.dumps(list(amr), separators=(",", ":"))


def decode_amr(text: str) -> tuple[str, ...]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("stored amr is not a list of strings")
    return tuple(value)


def user_from_row(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        disabled=bool(row["disabled"]),
        mfa_enabled=bool(row["mfa_enabled"]),
        mfa_since=row["mfa_since"],
        mfa_revoked_at=row["mfa_revoked_at"],
        created_at=row["created_at"],
    )


def org_from_row(row: Row, addons: Iterable[str]) -> Organization:
    return Organization(
        name=row["name"],
        mfa_required=bool(row["mfa_required"]),
        addons=frozenset(addons),
        mfa_level=MFALevel(row["mfa_level"]),
    )


def project_from_row(row: Row) -> Project:
    upstream = None
    if row["git_host"] is not None:
        upstream = Endpoint(
            user=row["git_user"],
            host=row["git_host"],
            port=row["git_port"],
            host_keys=split_host_keys(row["git_host_keys"]),
        )
    return Project(
        id=row["id"],
        org=row["org"],
        title=row["title"],
        git_upstream=upstream,
        git_path=row["git_path"],
    )


def project_params(project: Project) -> tuple[object, ...]:
    """(id, org, title, git_user, git_host, git_port, git_host_keys, git_path)"""
    up = project.git_upstream
    return (
        project.id,
        project.org,
        project.title,
        up.user if up else None,
        up.host if up else None,
        up.port if up else None,
        join_host_keys(up.host_keys) if up else "",
        project.git_path,
    )


def environment_from_row(row: Row) -> Environment:
    return Environment(
        project_id=row["project_id"],
        name=row["name"],
        machine_name=row["machine_name"],
        app=row["app"],
        upstream=Endpoint(
            user=row["upstream_user"],
            host=row["upstream_host"],
            port=row["upstream_port"],
            host_keys=split_host_keys(row["host_keys"]),
        ),
    )


def environment_params(env: Environment) -> tuple[object, ...]:
    """(project_id, name, app, machine_name, upstream_user, upstream_host, upstream_port,
    host_keys)"""
    up = env.upstream
    return (
        env.project_id,
        env.name,
        env.app,
        env.machine_name,
        up.user,
        up.host,
        up.port,
        join_host_keys(up.host_keys),
    )


def certificate_from_row(row: Row) -> CertificateRecord:
    return CertificateRecord(
        serial=serial_from_db(row["serial"]),
        user_id=row["user_id"],
        key_fingerprint=row["key_fingerprint"],
        valid_after=row["valid_after"],
        valid_before=row["valid_before"],
        amr=decode_amr(row["amr"]),
        jti=row["jti"],
        ca_fingerprint=row["ca_fingerprint"],
        issued_at=row["issued_at"],
        revoked_at=row["revoked_at"],
    )


def certificate_params(record: CertificateRecord) -> tuple[object, ...]:
    """(serial, user_id, key_fingerprint, valid_after, valid_before, amr, jti, ca_fingerprint,
    issued_at, revoked_at)"""
    return (
        serial_to_db(record.serial),
        record.user_id,
        record.key_fingerprint,
        check_bigint("valid_after", record.valid_after),
        check_bigint("valid_before", record.valid_before),
        encode_amr(record.amr),
        record.jti,
        record.ca_fingerprint,
        record.issued_at,
        record.revoked_at,
    )


def ca_key_from_row(row: Row) -> CAKeyRecord:
    return CAKeyRecord(
        fingerprint=row["fingerprint"],
        public_key=row["public_key"],
        added_at=row["added_at"],
        retired_at=row["retired_at"],
    )


def gateway_host_key_from_row(row: Row) -> GatewayHostKey:
    return GatewayHostKey(
        public_key=row["public_key"],
        public_host=row["public_host"],
        public_port=row["public_port"],
        recorded_at=row["recorded_at"],
    )


def audit_params(event: AuditEvent) -> tuple[object, ...]:
    """(time, user_id, serial, client, service, kind, decision, reason, detail)"""
    return (
        event.time,
        event.user_id,
        None if event.serial is None else serial_to_db(event.serial),
        event.client,
        event.service,
        event.kind,
        event.decision,
        event.reason,
        event.detail,
    )


def audit_from_row(row: Row) -> AuditRecord:
    event = AuditEvent(
        time=row["time"],
        kind=row["kind"],
        decision=row["decision"],
        reason=row["reason"],
        user_id=row["user_id"],
        serial=optional_serial_from_db(row["serial"]),
        client=row["client"],
        service=row["service"],
        detail=row["detail"],
    )
    outcome = None
    if row["duration"] is not None:
        outcome = AuditOutcome(
            bytes_in=row["bytes_in"],
            bytes_out=row["bytes_out"],
            exit_status=row["exit_status"],
            duration=row["duration"],
        )
    return AuditRecord(id=row["id"], event=event, outcome=outcome)
