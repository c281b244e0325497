"""What the admin commands share: the operator's lookups, the host key files they read,
and the audit record of the commands whose rules are not in the service layer."""

from __future__ import annotations

from pathlib import Path

from sshgate.cli._output import Refusal
from sshgate.policy import User, parse_host_key_lines
from sshgate.services import Operator
from sshgate.store import Store


async def user_named(store: Store, name: str) -> User:
    return await Operator(store).user(name)


def host_keys_from(path: str) -> tuple[str, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise Refusal(f"cannot read host key file {path}: {exc.strerror}") from None
    keys = parse_host_key_lines(text)
    if not keys:
        raise Refusal(f"no OpenSSH public key in {path}")
    return keys


async def audit_admin(store: Store, action: str, subject: str, detail: str | None = None) -> None:
    """Operator actions land in the same audit log as the gateway's decisions."""
    await Operator(store).audit(action, subject, detail)
