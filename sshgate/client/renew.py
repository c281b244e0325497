"""Getting a certificate for the local key with the current login session or token."""

from __future__ import annotations

import time
from pathlib import Path

from sshgate.client.agent import add_to_agent
from sshgate.client.api import Api, ApiError
from sshgate.client.home import KEY_FILE, State, parse_time, write_private
from sshgate.client.keys import KeyPair, new_key, public_key, write_key


class SessionEnded(Exception):
    """The login session expired or was revoked: only `sshgate login -f` helps."""


def renew(
    home: Path, state: State, ttl: int | None = None, new: KeyPair | None = None
) -> dict[str, object]:
    """Ask the API for a certificate for the key in `home`; write it and update `state`.

    With `new`, the certificate is for that key, which is written to `home` only together
    with its certificate: a request that fails leaves the previous key and certificate, a
    pair, in place (never a new key beside the old key's certificate)."""
    if new is not None:
        key = new.public_line
    else:
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
    if new is not None:
        write_key(home, new)
    write_private(home / f"{KEY_FILE}-cert.pub", (certificate + "\n").encode())
    state.serial = int(issued["serial"])
    state.valid_before = int(parse_time(issued["valid_before"]))
    state.amr = [str(a) for a in issued.get("amr", state.amr)]
    state.save(home)
    add_to_agent(home, state.valid_before - int(time.time()))
    return dict(issued)
