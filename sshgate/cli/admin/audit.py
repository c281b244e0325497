"""`sshgate admin audit`: read the audit log."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from sshgate.cli._output import Refusal, emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.cli.admin._common import user_named
from sshgate.config import Config
from sshgate.logs import key_values
from sshgate.store import AuditRecord, Store


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_since(value: str) -> float:
    """ISO 8601 (`2026-11-27T21:10:48Z`), or a duration back from now: `90s`, `15m`, `2h`, `1d`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[:-1].isdigit() and value[-1:] in units:
        return time.time() - int(value[:-1]) * units[value[-1]]
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(f"--since: expected ISO 8601 or a duration like 15m, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _as_dict(record: AuditRecord) -> dict[str, object]:
    e, o = record.event, record.outcome
    return {
        "id": record.id,
        "time": iso(e.time),
        "user_id": e.user_id,
        "serial": e.serial,
        "client": e.client,
        "service": e.service,
        "kind": e.kind,
        "decision": e.decision,
        "reason": e.reason,
        "detail": e.detail,
        "bytes_in": o.bytes_in if o else None,
        "bytes_out": o.bytes_out if o else None,
        "exit_status": o.exit_status if o else None,
        "duration": round(o.duration, 3) if o else None,
    }


@click.command()
@click.option("--since", help="ISO 8601 time, or a duration back from now (15m, 2h, 1d).")
@click.option("--user", "username", help="Only this user's records.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@config_option
@json_option
def audit(
    since: str | None, username: str | None, limit: int, config_path: str | None, as_json: bool
) -> None:
    """Show the audit log, oldest first."""
    since_ts = parse_since(since) if since else None

    async def action(config: Config, store: Store) -> list[AuditRecord]:
        user_id = (await user_named(store, username)).id if username else None
        return await store.list_audit(since=since_ts, user_id=user_id, limit=limit)

    records = run(config_path, action)
    items = [_as_dict(r) for r in records]
    emit(as_json, {"items": items}, [prose_line(item) for item in items] or ["no audit records"])


def prose_line(item: dict[str, object]) -> str:
    """One record as one `key=value` line: values a stranger chose (a refused certificate's
    key ID, a service name, an exec command) are quoted and escaped, never raw."""
    return key_values((k, v) for k, v in item.items() if v is not None and k != "id")
