"""How every command answers: prose or one JSON line on stdout, one line on stderr on failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class Refusal(Exception):
    """A refusal or bad input: one line on stderr, exit status 1. `bare` lines are printed
    exactly as given (a message the contract spells out word for word)."""

    exit_code = 1

    def __init__(self, message: str, bare: bool = False) -> None:
        super().__init__(message)
        self.bare = bare


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(func)


def emit(as_json: bool, obj: dict[str, Any], prose: str | Iterable[str]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
        return
    lines = [prose] if isinstance(prose, str) else list(prose)
    for line in lines:
        click.echo(line)


def table(rows: list[list[str]], headers: list[str]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip()] + [fmt.format(*row).rstrip() for row in rows]


def read_secret_stdin(what: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise Refusal(f"no {what} on standard input")
    return value
