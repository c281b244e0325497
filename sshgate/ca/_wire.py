"""A strict reader and a small writer for the SSH wire format (RFC 4251 section 5).

The reader works on untrusted bytes: every read is bounds-checked and every failure
is a :class:`WireError`, which callers turn into their own error.
"""

from __future__ import annotations

import struct

__all__ = ["WireError", "WireReader", "encode_mpint", "encode_string", "encode_u32", "encode_u64"]


class WireError(ValueError):
    """The bytes are not the SSH wire value that was expected."""


class WireReader:
    """Consume SSH wire values from the front of a byte string."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, count: int) -> bytes:
        if count < 0 or count > self.remaining:
            raise WireError("truncated")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack(">Q", self.take(8))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.u32())

    def text(self) -> str:
        """A string that must be UTF-8 without NUL (OpenSSH reads these as C strings)."""
        raw = self.string()
        if b"\x00" in raw:
            raise WireError("string contains NUL")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("string is not UTF-8") from None

    def positive_mpint(self) -> int:
        """A non-negative, minimally encoded mpint (what OpenSSH's sshbuf accepts)."""
        raw = self.string()
        if raw and raw[0] & 0x80:
            raise WireError("negative mpint")
        if len(raw) > 1 and raw[0] == 0 and not raw[1] & 0x80:
            raise WireError("mpint has a superfluous leading zero")
        return int.from_bytes(raw, "big")

    def expect_end(self) -> None:
        if self.remaining:
            raise WireError("trailing data")


def encode_u32(value: int) -> bytes:
    return struct.pack(">I", value)


def encode_u64(value: int) -> bytes:
    return struct.pack(">Q", value)


def encode_string(value: bytes) -> bytes:
    return encode_u32(len(value)) + value


def encode_mpint(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative mpint")
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return encode_string(raw)
