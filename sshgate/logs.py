"""Structured logs: one line per event, `key=value` text or JSON, to stderr. Never a secret."""

from __future__ import annotations

import json
import logging
import sys
import time
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
        return " ".join(f"{key}={_text(value)}" for key, value in fields.items())


def _text(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text)
    return text


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
