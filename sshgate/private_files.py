"""Reading private files (keys, the secrets key): only regular files that group and others
cannot read, as OpenSSH insists for private keys. Errors name the path, never the content."""

from __future__ import annotations

import os
import stat


class PrivateFileError(Exception):
    """The file is missing, not a regular file, readable by others, or too large."""


def read_private_file(path: str | os.PathLike[str], max_bytes: int, what: str) -> bytes:
    where = os.fspath(path)
    try:
        fd = os.open(where, os.O_RDONLY)
    except OSError as exc:
        raise PrivateFileError(f"{where}: cannot open {what} ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PrivateFileError(f"{where}: not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise PrivateFileError(
                f"{where}: mode {mode:04o} lets group or others read the {what}; chmod 600 it"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise PrivateFileError(f"{where}: too large for a {what}")
    return data
