"""The `sshgate` command line: entry point in main.py, commands loaded lazily by app.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sshgate import _lazy

if TYPE_CHECKING:
    from sshgate.cli.app import cli

_LAZY = {"cli": "app"}


def __getattr__(name: str) -> object:
    return _lazy.load(__name__, name, _LAZY)


__all__ = ["cli"]
