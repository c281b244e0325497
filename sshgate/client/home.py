"""The user's sshgate folder (`$SSHGATE_HOME`, default `~/.sshgate`): mode 0700, files 0600,
every file replaced atomically so an interrupted login never leaves half a key or
certificate behind. Standard library only (the `cert ensure` path imports it)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
KEY_FILE = "id_ed25519"


def home_dir(explicit: str | None = None) -> Path:
    value = explicit or os.environ.get("SSHGATE_HOME") or os.path.join("~", ".sshgate")
    return Path(value).expanduser().absolute()


def ensure_home(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `path` with mode 0600 atomically: a temp file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass
class State:
    """What a login leaves behind. `token` is the login session's (or a bot's API token)."""

    api: str = ""
    username: str = ""
    user_id: str = ""
    token: str = ""
    token_kind: str = "session"  # "session" | "token"
    session_expires_at: float = 0.0
    amr: list[str] = field(default_factory=list)
    serial: int = 0
    valid_before: int = 0
    gateway_host: str = ""
    gateway_port: int = 22
    session_ended: bool = False

    @classmethod
    def load(cls, home: Path) -> State | None:
        try:
            raw: dict[str, Any] = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, home: Path) -> None:
        ensure_home(home)
        write_private(home / STATE_FILE, json.dumps(asdict(self), indent=1).encode())


def parse_time(value: object) -> float:
    """API times are ISO 8601 in UTC (`2026-11-27T21:10:48Z`); numbers are Unix seconds."""
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
