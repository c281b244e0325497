"""`sshgate login`: a login session (or a bot's API token), a fresh local key, a certificate,
the ssh-agent, and the OpenSSH config snippet."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sshgate.client.agent import add_to_agent
from sshgate.client.api import Api, ApiError
from sshgate.client.home import State, ensure_home, parse_time, write_private
from sshgate.client.keys import generate_key
from sshgate.client.renew import renew
from sshgate.client.sshconfig import (
    GatewayPin,
    check_config_path,
    gateway_pin,
    known_hosts_lines,
    render_ssh_config,
)

KEEP_IF_VALID_FOR = 120


@dataclass(frozen=True)
class LoginRequest:
    api: str
    username: str | None
    password: str | None
    totp: str | None
    token: str | None
    force: bool
    session: str | None = None  # a login session made through the browser (--web)


@dataclass(frozen=True)
class LoginResult:
    state: State
    kept: bool
    in_agent: bool
    include_line: str


def sshgate_command() -> list[str]:
    """How OpenSSH should call this sshgate: the same interpreter and package, by path."""
    return [sys.executable, "-m", "sshgate.cli.main"]


def still_valid(state: State | None, username: str | None, api: str, now: float) -> bool:
    return (
        state is not None
        and bool(state.token)
        and not state.session_ended
        and state.api == api
        and (username is None or username == state.username)
        and state.valid_before - now > KEEP_IF_VALID_FOR
    )


def log_in(
    home: Path, request: LoginRequest, ask_code: Callable[[], str | None] | None
) -> LoginResult:
    """Raises ApiError, or SSHConfigError when what would be written to ssh_config is not
    safe there (`home` itself is checked before the password goes anywhere)."""
    check_config_path("SSHGATE_HOME", home)
    ensure_home(home)
    previous = State.load(home)
    if not request.force and still_valid(previous, request.username, request.api, time.time()):
        assert previous is not None
        return LoginResult(previous, True, False, include_line(home))
    state = _authenticate(request, ask_code)
    # The gateway's address is checked before anything is written: a refusal leaves the
    # previous key, certificate and ssh_config as they were.
    pin = _gateway_pin(state)
    config = render_ssh_config(home, pin, sshgate_command())
    renew(home, state, new=generate_key(f"sshgate:{state.username}"))
    state.gateway_host, state.gateway_port = pin.host, pin.port
    write_private(home / "known_hosts", known_hosts_lines(pin).encode())
    write_private(home / "ssh_config", config.encode())
    state.save(home)
    in_agent = add_to_agent(home, state.valid_before - int(time.time()))
    return LoginResult(state, False, in_agent, include_line(home))


def _authenticate(request: LoginRequest, ask_code: Callable[[], str | None] | None) -> State:
    if request.session:
        with Api(request.api, request.session) as api:
            account = api.call("GET", "/api/account")
        return State(
            api=request.api,
            username=str(account["username"]),
            user_id=str(account["id"]),
            token=request.session,
            token_kind="session",
            session_expires_at=parse_time(account["expires_at"]),
            amr=[str(a) for a in account.get("amr", [])],
        )
    if request.token:
        with Api(request.api, request.token) as api:
            account = api.call("GET", "/api/account")
        return State(
            api=request.api,
            username=str(account["username"]),
            user_id=str(account["id"]),
            token=request.token,
            token_kind="token",
            amr=[str(a) for a in account.get("amr", [])],
        )
    if not request.username or request.password is None:
        raise ApiError("give --user NAME and a password (--password-stdin)")
    body: dict[str, object] = {"username": request.username, "password": request.password}
    if request.totp:
        body["totp"] = request.totp
    with Api(request.api) as api:
        try:
            answer = api.call("POST", "/api/auth/login", body)
        except ApiError as exc:
            if exc.code != "mfa_code_required":
                raise
            code = ask_code() if ask_code is not None else None
            if not code:
                raise ApiError(
                    "MFA is enabled for this account: give a code with --totp CODE"
                ) from None
            answer = api.call("POST", "/api/auth/login", {**body, "totp": code})
    user = answer["user"]
    return State(
        api=request.api,
        username=str(user["username"]),
        user_id=str(user["id"]),
        token=str(answer["token"]),
        token_kind="session",
        session_expires_at=parse_time(answer["expires_at"]),
        amr=[str(a) for a in answer.get("amr", [])],
    )


def _gateway_pin(state: State) -> GatewayPin:
    with Api(state.api, state.token) as api:
        authority = api.call("GET", "/api/ssh/authority")
    gateway = authority.get("gateway") if isinstance(authority, dict) else None
    if not isinstance(gateway, dict):
        raise ApiError("the API's /api/ssh/authority answer has no gateway")
    return gateway_pin(gateway.get("host"), gateway.get("port"), gateway.get("host_keys"))


def include_line(home: Path) -> str:
    return f"Include {home / 'ssh_config'}"
