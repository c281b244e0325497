"""The connection limits of one `sshgate serve` held across its gateway processes.

With `gateway.workers` > 1 every process accepts connections on the same socket, and a
limit each process enforced alone would be exceeded N times over (or split, and exceeded by
the rounding). Instead all processes count in one table: a file in the private folder the
processes already share (PROMETHEUS_MULTIPROC_DIR), mapped into each process's memory, and
changed only under an exclusive `flock` on it, so a check and the count that follows it are
one step for all processes together. The lock is released by the kernel if its holder
dies; holding it costs a few microseconds (a `find` over a few pages).

Layout: a header, then one region per process (slot `I` of `I/N`), each with its count of
unauthenticated connections and a table of (source key, count) rows. A process writes only
its own region and reads all of them; when a worker exits, the main process clears its
region (`clear`), and a process starting in a slot clears what its predecessor left. A
source key is the 16-byte IPv6 form of the client address (IPv4 as `::ffff:a.b.c.d`).

If a process's rows are all taken (more distinct waiting sources than `capacity`), a new
connection is refused as `max-unauthenticated`: it fails closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import mmap
import os
import struct
from collections.abc import Hashable, Iterator
from pathlib import Path

from sshgate.ssh_gateway.limits import MAX_PER_SOURCE, MAX_UNAUTHENTICATED, Limits, refusal

FILE_NAME = "admission"
MAGIC = b"sshgate-admit-1\x00"
_HEADER = struct.Struct("<16sII")
_HEADER_SIZE = 64
_KEY = 16
_COUNT = struct.Struct("<I")
_FREE = bytes(_KEY)
# Rows per process: distinct sources that may wait in one process at once.
MIN_CAPACITY = 4096


class AdmissionTableError(Exception):
    """The shared table file is missing, too short, or not one of ours."""


def source_key(source: str) -> bytes:
    """The table's 16-byte key of a client address (any text that is not an IP address,
    or the unspecified address, gets a hash of itself instead)."""
    try:
        ip = ipaddress.ip_address(source)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv4Address):
        key = bytes(10) + b"\xff\xff" + ip.packed
    elif isinstance(ip, ipaddress.IPv6Address):
        key = ip.packed
    else:
        key = _FREE
    if key == _FREE:
        key = hashlib.blake2b(source.encode(), digest_size=_KEY, person=b"sshgate-src").digest()
    return key


def capacity_for(max_unauthenticated: int) -> int:
    return max(MIN_CAPACITY, 2 * max_unauthenticated)


class AdmissionTable:
    """The mapped file. `create` (the main process) or `attach` (a worker)."""

    def __init__(self, path: Path, processes: int, capacity: int, fd: int, mm: mmap.mmap) -> None:
        self.path = path
        self.processes = processes
        self.capacity = capacity
        self._fd = fd
        self._mm = mm
        self._region_size = 8 + capacity * (_KEY + _COUNT.size)

    @classmethod
    def create(cls, folder: Path | str, processes: int, capacity: int) -> AdmissionTable:
        path = Path(folder) / FILE_NAME
        size = _HEADER_SIZE + processes * (8 + capacity * (_KEY + _COUNT.size))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, size)
            os.pwrite(fd, _HEADER.pack(MAGIC, processes, capacity), 0)
            mm = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, processes, capacity, fd, mm)

    @classmethod
    def attach(cls, folder: Path | str) -> AdmissionTable:
        path = Path(folder) / FILE_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise AdmissionTableError(f"no shared admission table at {path}: {exc}") from None
        try:
            size = os.fstat(fd).st_size
            header = os.pread(fd, _HEADER.size, 0)
            magic, processes, capacity = (
                _HEADER.unpack(header) if len(header) == _HEADER.size else (b"", 0, 0)
            )
            expected = _HEADER_SIZE + processes * (8 + capacity * (_KEY + _COUNT.size))
            if magic != MAGIC or size != expected:
                raise AdmissionTableError(f"{path} is not a shared admission table")
            mm = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, processes, capacity, fd, mm)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._mm.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    # --- under the lock -------------------------------------------------------------------

    def _region(self, index: int) -> int:
        return _HEADER_SIZE + index * self._region_size

    def _keys(self, index: int) -> tuple[int, int]:
        start = self._region(index) + 8
        return start, start + self.capacity * _KEY

    def _row(self, index: int, key: bytes) -> int:
        """The row of `key` in process `index`'s region, or -1."""
        start, end = self._keys(index)
        at = self._mm.find(key, start, end)
        while at != -1 and (at - start) % _KEY:
            at = self._mm.find(key, at + 1, end)
        return -1 if at == -1 else (at - start) // _KEY

    def _count_at(self, index: int, row: int) -> int:
        offset = self._keys(index)[1] + row * _COUNT.size
        return int(_COUNT.unpack_from(self._mm, offset)[0])

    def _set_count(self, index: int, row: int, value: int) -> None:
        _COUNT.pack_into(self._mm, self._keys(index)[1] + row * _COUNT.size, value)

    def total(self) -> int:
        return sum(_COUNT.unpack_from(self._mm, self._region(i))[0] for i in range(self.processes))

    def from_source(self, key: bytes) -> int:
        rows = ((i, self._row(i, key)) for i in range(self.processes))
        return sum(self._count_at(i, row) for i, row in rows if row != -1)

    def add_total(self, index: int, delta: int) -> None:
        offset = self._region(index)
        value = int(_COUNT.unpack_from(self._mm, offset)[0]) + delta
        _COUNT.pack_into(self._mm, offset, max(0, value))

    def add_source(self, index: int, key: bytes) -> bool:
        """Count one more connection from `key` in process `index`; False when its rows are
        all taken."""
        row = self._row(index, key)
        if row == -1:
            row = self._row(index, _FREE)
            if row == -1:
                return False
            start = self._keys(index)[0] + row * _KEY
            self._mm[start : start + _KEY] = key
        self._set_count(index, row, self._count_at(index, row) + 1)
        return True

    def remove_source(self, index: int, key: bytes) -> None:
        row = self._row(index, key)
        if row == -1:
            return
        count = self._count_at(index, row) - 1
        self._set_count(index, row, max(0, count))
        if count <= 0:
            start = self._keys(index)[0] + row * _KEY
            self._mm[start : start + _KEY] = _FREE

    def clear(self, index: int) -> None:
        """Forget every connection process `index` counted (it exited)."""
        with self.locked():
            start = self._region(index)
            self._mm[start : start + self._region_size] = bytes(self._region_size)


class SharedAdmission:
    """`Admission` for one of several gateway processes, counting in an `AdmissionTable`."""

    def __init__(self, table: AdmissionTable, index: int) -> None:
        self._table = table
        self._index = index
        self._pending: dict[Hashable, bytes | None] = {}  # connection -> its counted source

    @property
    def unauthenticated(self) -> int:
        return len(self._pending)

    def admit(self, conn: Hashable, source: str | None, limits: Limits) -> str | None:
        table, me = self._table, self._index
        key = None if source is None else source_key(source)
        with table.locked():
            table.add_total(me, 1)
            if key is not None and not table.add_source(me, key):
                self._pending[conn] = None
                return MAX_UNAUTHENTICATED
            self._pending[conn] = key
            from_source = 0 if key is None else table.from_source(key)
            return refusal(table.total(), from_source, limits)

    def identify(self, conn: Hashable, source: str, limits: Limits) -> str | None:
        if conn not in self._pending or self._pending[conn] is not None:
            return None
        table, key = self._table, source_key(source)
        with table.locked():
            if not table.add_source(self._index, key):
                return MAX_UNAUTHENTICATED
            self._pending[conn] = key
            return MAX_PER_SOURCE if table.from_source(key) > limits.max_per_source else None

    def authenticated(self, conn: Hashable) -> None:
        self.release(conn)

    def release(self, conn: Hashable) -> None:
        if conn not in self._pending:
            return
        key = self._pending.pop(conn)
        table = self._table
        with table.locked():
            table.add_total(self._index, -1)
            if key is not None:
                table.remove_source(self._index, key)


__all__ = [
    "AdmissionTable",
    "AdmissionTableError",
    "SharedAdmission",
    "capacity_for",
    "source_key",
]
