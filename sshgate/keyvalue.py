"""`key=value` text that stays one harmless line, whatever the values hold: the form of
sshgate's text log lines and of `sshgate admin audit`'s prose.

Values come from strangers (a refused certificate's key ID, a requested service, an exec
command), and the line is read by people in terminals and by scripts that split it. So a
value is written bare only when it is printable ASCII without a space, `"`, `=` or `\\`;
otherwise it is quoted, with `\\` and `"` escaped, and every control or otherwise
non-printable character (C0 and C1 controls, DEL, line and paragraph separators, bidi and
other format characters such as U+202E) written as a `\\n`, `\\xHH`, `\\uHHHH` or
`\\UHHHHHHHH` escape. Nothing can end the line, start a new field, or reach the terminal as
an escape sequence.
"""

from __future__ import annotations

from collections.abc import Iterable

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


__all__ = ["key_values", "quote_value"]
