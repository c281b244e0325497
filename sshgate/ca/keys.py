"""CA key files: create, load, fingerprint, and the key folder with rotation.

Private keys live only in files of mode 0600 in ``ca.key_dir``; a gateway host has
only the ``.pub`` files. Errors name paths and modes, never key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sshgate.ca.errors import KeyFileError
from sshgate.private_files import PrivateFileError, read_private_file

__all__ = [
    "KeyDir",
    "PublicKey",
    "fingerprint",
    "generate_ed25519_key_file",
    "load_private_key",
    "public_key_line",
]

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_KEY_NAME = re.compile(r"ca-(\d{8}T\d{6}Z)-([0-9a-f]{4})\.key")
_STAMP = "%Y%m%dT%H%M%SZ"
_MAX_KEY_FILE_BYTES = 64 * 1024


def generate_ed25519_key_file(path: str | os.PathLike[str]) -> str:
    """Write a new Ed25519 key to ``path`` (mode 0600) and ``path.pub``; return the public line.

    Each file appears whole or not at all (written aside, then hard-linked into place),
    and an existing file is never overwritten: KeyFileError instead. The ``.pub`` file
    appears first, so a folder never shows a private key whose public key is missing.
    """
    target = Path(path)
    pub_target = Path(f"{target}.pub")
    for existing in (target, pub_target):
        if os.path.lexists(existing):
            raise KeyFileError(f"{existing}: already exists; refusing to overwrite a key file")
    key = Ed25519PrivateKey.generate()
    line = public_key_line(key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    _publish(pub_target, f"{line}\n".encode("ascii"), 0o644)
    try:
        _publish(target, pem, 0o600)
    except BaseException:
        pub_target.unlink(missing_ok=True)
        raise
    return line


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an unencrypted OpenSSH Ed25519 private key from a file of mode 0600 (or stricter)."""
    try:
        data = read_private_file(path, _MAX_KEY_FILE_BYTES, "key file")
    except PrivateFileError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message is dropped on purpose: it must not echo file contents.
        raise KeyFileError(f"{os.fspath(path)}: not an unencrypted OpenSSH private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{os.fspath(path)}: not an Ed25519 key")
    return key


def public_key_line(key: PublicKey) -> str:
    """The OpenSSH one-line form ``type base64`` (no comment)."""
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")


def fingerprint(public_key: str | bytes | PublicKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a key line, a wire blob, or a key object.

    The hash is over the wire blob as given: for a certificate line that is the
    certificate; use ``PresentedCertificate.subject_key_blob`` for the certified key.
    A string that is not ``type base64 [comment]`` raises ValueError.
    """
    if isinstance(public_key, bytes):
        blob = public_key
    elif isinstance(public_key, str):
        blob = _line_blob(public_key)
    else:
        blob = base64.b64decode(public_key_line(public_key).split()[1])
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class KeyDir:
    """The CA key folder: ``ca-<UTC YYYYmmddTHHMMSSZ>-<4 hex>.key`` files and their ``.pub``.

    Names sort by creation time, so the lexicographically last private key is the
    active one. Several CA hosts may share the folder.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def private_key_files(self) -> list[Path]:
        """The private key files, oldest first."""
        return self._matching(".key")

    def public_key_files(self) -> list[Path]:
        """The public key files, oldest first (all a gateway host has)."""
        return [Path(f"{p}.pub") for p in self._matching(".key.pub", strip=".pub")]

    def active(self) -> tuple[Path, Ed25519PrivateKey]:
        """The newest private key, which signs new certificates."""
        files = self.private_key_files()
        if not files:
            raise KeyFileError(f"{self.path}: holds no CA private key")
        newest = files[-1]
        return newest, load_private_key(newest)

    def public_keys(self) -> list[str]:
        """Every CA public key as ``type base64`` lines, oldest first, from the ``.pub`` files."""
        lines: list[str] = []
        for pub in self.public_key_files():
            try:
                text = pub.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise KeyFileError(f"{pub}: cannot read public key file ({exc})") from None
            fields = text.split()
            if len(fields) < 2:
                raise KeyFileError(f"{pub}: not an OpenSSH public key file")
            lines.append(f"{fields[0]} {fields[1]}")
        return lines

    def rotate(self, now: float | None = None) -> str:
        """Add a new key file, which becomes the active key; return its public key line."""
        existing = [p.name for p in self.private_key_files()]
        for _ in range(8):
            name = next_key_name(existing, time.time() if now is None else now)
            try:
                return generate_ed25519_key_file(self.path / name)
            except KeyFileError:
                # Another CA host rotated at the same moment; pick a later name.
                existing = [*existing, name]
        raise KeyFileError(f"{self.path}: could not find a free key file name")

    def ensure(self) -> None:
        """Create the folder (mode 0700) and a first key when it has none."""
        if not self.path.exists():
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode passes through the umask; the key folder must be exactly 0700.
            self.path.chmod(0o700)
        if not self.private_key_files():
            self.rotate()

    def _matching(self, suffix: str, strip: str = "") -> list[Path]:
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            raise KeyFileError(f"{self.path}: cannot list key folder ({exc.strerror})") from None
        found = []
        for name in names:
            if not name.endswith(suffix):
                continue
            base = name[: -len(strip)] if strip else name
            if _KEY_NAME.fullmatch(base):
                found.append(self.path / base)
        return sorted(found, key=lambda p: p.name)


def next_key_name(existing: list[str], now: float) -> str:
    """A key file name that sorts after every name in ``existing``, stamped ``now`` if it can be.

    A clock that went back, or two rotations in one second, still yield a later name.
    """
    moment = datetime.fromtimestamp(int(now), UTC)
    floor = -1
    stamps = sorted(m.group(0) for m in map(_KEY_NAME.fullmatch, existing) if m)
    newest = _KEY_NAME.fullmatch(stamps[-1]) if stamps else None
    if newest is not None and newest.group(1) >= _stamp(moment):
        moment = datetime.strptime(newest.group(1), _STAMP).replace(tzinfo=UTC)
        floor = int(newest.group(2), 16)
        if floor == 0xFFFF:
            moment += timedelta(seconds=1)
            floor = -1
    suffix = floor + 1 + secrets.randbelow(0xFFFF - floor)
    return f"ca-{_stamp(moment)}-{suffix:04x}.key"


def _stamp(moment: datetime) -> str:
    return moment.strftime(_STAMP)


def _publish(target: Path, content: bytes, mode: int) -> None:
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise KeyFileError(f"{target}: cannot write key file ({exc.strerror})") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        os.close(fd)
    try:
        # link(2) fails when the target exists: never overwrite, and never show a partial file.
        os.link(temp, target)
    except FileExistsError:
        raise KeyFileError(f"{target}: already exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise KeyFileError(f"{target}: cannot write key file ({exc.strerror})") from None
    finally:
        temp.unlink(missing_ok=True)


def _line_blob(line: str) -> bytes:
    fields = line.split()
    if len(fields) < 2:
        raise ValueError("not an OpenSSH public key line")
    try:
        return base64.b64decode(fields[1], validate=True)
    except binascii.Error:
        raise ValueError("not an OpenSSH public key line") from None
