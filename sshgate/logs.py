"""Structured logs: one line per event, `key=value` text or JSON, to stderr. Never a secret.

The `key=value` form is also `sshgate admin audit`'s prose, and values come from strangers
(a refused certificate's key ID, a requested service, an exec command) while the line is
read by people in terminals and by scripts that split it. So a value is written bare only
when it is printable ASCII without a space, `"`, `=` or `\\`; otherwise it is quoted, with
`\\` and `"` escaped, and every control or otherwise non-printable character (C0 and C1
controls, DEL, line and paragraph separators, bidi and other format characters such as
U+202E) written as a `\\n`, `\\xHH`, `\\uHHHH` or `\\UHHHHHHHH` escape. Nothing can end
the line, start a new field, or reach the terminal as an escape sequence.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

_LOGGER = logging.getLogger("sshgate")


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str, process_fields: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._json = fmt == "json"
        self._process_fields = dict(process_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields.update(self._process_fields)
        fields.update(getattr(record, "fields", {}))
        if self._json:
            return json.dumps(fields, separators=(",", ":"), default=str)
        return key_values(fields.items())


_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BARE = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset('"=\\')


def quote_value(value: object) -> str:
    """`value` as it appears after `key=`: bare when that is safe, else quoted and escaped."""
    text = str(value)
    if text and all(c in _BARE for c in text):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def key_values(fields: Iterable[tuple[str, object]]) -> str:
    """`key=value` pairs separated by one space; keys are sshgate's own names."""
    return " ".join(f"{key}={quote_value(value)}" for key, value in fields)


def _escape(c: str) -> str:
    named = _NAMED.get(c)
    if named is not None:
        return named
    if c == " " or (c.isprintable() and c != "\x7f"):
        return c
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# Libraries whose own log lines become sshgate lines (`event=uvicorn`), in the same format.
FORWARDED_LOGGERS = ("uvicorn",)


class _Forward(logging.Handler):
    """A library's log record as one sshgate line: its logger and message as fields."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not lose the line
            message = str(record.msg)
        log(record.name.split(".")[0], record.levelno, logger=record.name, message=message)


def configure(
    fmt: str = "text",
    level: int = logging.INFO,
    process_fields: dict[str, Any] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Log lines to stderr (or `stream`: the demo's log file); `process_fields` go on every
    line of this process (a gateway worker's `worker=I`, so processes sharing stderr can be
    told apart). The lines of FORWARDED_LOGGERS go through the same formatter."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(_Formatter(fmt, process_fields))
    _LOGGER.handlers[:] = [handler]
    _LOGGER.setLevel(level)
    _LOGGER.propagate = False
    for name in FORWARDED_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = [_Forward()]
        library.propagate = False


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    _LOGGER.log(level, event, extra={"fields": fields})
