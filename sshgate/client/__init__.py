"""The user side of sshgate: state under SSHGATE_HOME, the API client, the ssh_config
snippet, and the fast `cert ensure` path. Imports stay light: `cert ensure` runs before
every SSH connection, so every export loads its module (and httpx) on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sshgate import _lazy

if TYPE_CHECKING:
    from sshgate.client.agent import remove_from_agent
    from sshgate.client.api import STEP_UP, Api, ApiError
    from sshgate.client.ensure import ensure_main
    from sshgate.client.home import State, home_dir
    from sshgate.client.login import LoginRequest, log_in, still_valid
    from sshgate.client.sshconfig import SSHConfigError, includes_snippet
    from sshgate.client.web_signin import browser_session, device_session

_LAZY = {
    "STEP_UP": "api",
    "Api": "api",
    "ApiError": "api",
    "LoginRequest": "login",
    "SSHConfigError": "sshconfig",
    "State": "home",
    "browser_session": "web_signin",
    "device_session": "web_signin",
    "ensure_main": "ensure",
    "home_dir": "home",
    "includes_snippet": "sshconfig",
    "log_in": "login",
    "remove_from_agent": "agent",
    "still_valid": "login",
}


def __getattr__(name: str) -> object:
    return _lazy.load(__name__, name, _LAZY)


__all__ = [
    "STEP_UP",
    "Api",
    "ApiError",
    "LoginRequest",
    "SSHConfigError",
    "State",
    "browser_session",
    "device_session",
    "ensure_main",
    "home_dir",
    "includes_snippet",
    "log_in",
    "remove_from_agent",
    "still_valid",
]
