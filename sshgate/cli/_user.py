"""What the user-side commands share: SSHGATE_HOME, the remembered API, the bearer."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sshgate.cli._output import Refusal
from sshgate.client import STEP_UP, Api, ApiError, State, home_dir

F = TypeVar("F", bound=Callable[..., Any])


def api_option(func: F) -> F:
    return click.option(
        "--api",
        "api_url_option",
        help="The sshgate API URL (default: $SSHGATE_API, or the one of the last login).",
    )(func)


def home() -> Path:
    return home_dir()


def logged_in() -> State:
    state = State.load(home())
    if state is None or not state.token:
        raise Refusal("not logged in: run sshgate login")
    return state


def api_url(explicit: str | None, state: State | None = None) -> str:
    url = explicit or os.environ.get("SSHGATE_API") or (state.api if state else "")
    if not url:
        raise Refusal("no API: pass --api URL or set SSHGATE_API")
    return url


def call(state: State, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One API call with the login's bearer; ApiError becomes the command's one-line refusal."""
    try:
        with Api(state.api, state.token) as api:
            return api.call(method, path, body)
    except ApiError as exc:
        # RFC 9470 step-up: the contract's MFA message, word for word.
        raise Refusal(str(exc), bare=exc.code == STEP_UP) from None


def is_terminal() -> bool:
    return sys.stdin.isatty()
