"""`sshgate demo`, and the real-sshd environment and client identity helpers that the demo,
the tests and the benchmark share. `run_demo` (which loads the whole server) loads on first
use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sshgate import _lazy
from sshgate.demo.identity import ClientIdentity
from sshgate.demo.loginuser import LoginUserError
from sshgate.demo.sshd import EnvironmentServer, SSHDError, free_port

if TYPE_CHECKING:
    from sshgate.demo.walkthrough import data_dir_refusal, run_demo

_LAZY = {"run_demo": "walkthrough", "data_dir_refusal": "walkthrough"}


def __getattr__(name: str) -> object:
    return _lazy.load(__name__, name, _LAZY)


__all__ = [
    "ClientIdentity",
    "EnvironmentServer",
    "LoginUserError",
    "SSHDError",
    "data_dir_refusal",
    "free_port",
    "run_demo",
]
