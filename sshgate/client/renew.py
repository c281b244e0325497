"""Getting a certificate for the local key with the current login session or token."""

from __future__ import annotations

import time
from pathlib import Path

from sshgate.client.agent import add_to_agent
from sshgate.client.api import Api, ApiError
from sshgate.client.home import KEY_FILE, State, parse_time, write_private
from sshgate.client.keys import new_key, public_key


class SessionEnded(Exception):
    """The login session expired or was revoked: only `sshgate login -f` helps."""


def renew(home: Path, state: State, ttl: int | None = None) -> dict[str, object]:
    """Ask the API for a certificate for the key in `home`; write it and update `state`."""
    key = public_key(home) or new_key(home, f"sshgate:{state.username}")
    body: dict[str, object] = {"key": key}
    if ttl is not None:
        body["ttl"] = ttl
    with Api(state.api, state.token) as api:
        try:
            issued = api.call("POST", "/api/ssh/certificate", body)
        except ApiError as exc:
            if exc.status == 401:
                state.session_ended = True
                state.save(home)
                raise SessionEnded(str(exc)) from None
            raise
    certificate = str(issued["certificate"]).strip()
    write_private(home / f"{KEY_FILE}-cert.pub", (certificate + "\n").encode())
    state.serial = int(issued["serial"])
    state.valid_before = int(parse_time(issued["valid_before"]))
    state.amr = [str(a) for a in issued.get("amr", state.amr)]
    state.save(home)
    add_to_agent(home, state.valid_before - int(time.time()))
    return dict(issued)
