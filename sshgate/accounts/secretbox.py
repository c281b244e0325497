"""The secrets key (``secrets.key_file``) and what it protects, so that the database alone
never reveals a TOTP secret or lets a recovery code be guessed offline.

* TOTP secrets are sealed with AES-256-GCM: a fresh 12-byte random nonce per seal, and the
  user id as associated data, so a sealed secret copied onto another user's row does not open.
* Recovery codes are stored as HMAC-SHA256 under a subkey derived per purpose, so the same
  key never serves two algorithms.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sshgate.accounts.errors import SecretsKeyError
from sshgate.private_files import PrivateFileError, read_private_file

__all__ = ["KEY_BYTES", "SecretBox", "write_key_file"]

KEY_BYTES = 32
NONCE_BYTES = 12
# The first byte of a sealed value names its format, so the layout can change later.
_FORMAT_V1 = b"\x01"
_MAX_KEY_FILE_BYTES = 256


class SecretBox:
    """Seals small secrets and derives keyed hashes with the 32-byte secrets key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretsKeyError(f"the secrets key must be {KEY_BYTES} bytes")
        self._key = key
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> SecretBox:
        """Read the key: 32 raw bytes (what ``sshgate init`` writes) or 64 hex digits.
        Refuses a file that group or others may read, like OpenSSH does for private keys."""
        where = os.fspath(path)
        try:
            data = read_private_file(where, _MAX_KEY_FILE_BYTES, "secrets key")
        except PrivateFileError as exc:
            raise SecretsKeyError(str(exc)) from None
        return cls(_decode_key(where, data))

    def seal(self, plaintext: bytes, associated: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, associated.encode("utf-8"))
        return _FORMAT_V1 + nonce + sealed

    def open(self, blob: bytes, associated: str) -> bytes:
        """The plaintext of `seal`'s output; SecretsKeyError when it was sealed with another
        key or for another `associated` value, or was tampered with."""
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != _FORMAT_V1:
            raise SecretsKeyError("stored secret has an unknown format")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, associated.encode("utf-8"))
        except InvalidTag:
            raise SecretsKeyError(
                "a stored secret does not open with this secrets key (was secrets.key_file"
                " replaced?)"
            ) from None

    def keyed_hash(self, purpose: str, data: bytes) -> str:
        """HMAC-SHA256 hex of `data` under a subkey for `purpose` (e.g. "recovery-code")."""
        subkey = hmac.new(self._key, f"sshgate/{purpose}/v1".encode(), hashlib.sha256).digest()
        return hmac.new(subkey, data, hashlib.sha256).hexdigest()


def _decode_key(where: str, data: bytes) -> bytes:
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return binascii.unhexlify(text)
        except binascii.Error:
            pass
    # The length only: never a byte of the file.
    raise SecretsKeyError(
        f"{where}: expected {KEY_BYTES} raw bytes or {2 * KEY_BYTES} hex digits,"
        f" found {len(data)} bytes"
    )


def write_key_file(path: Path) -> None:
    """Create a new random key file of mode 0600 (tests and tools); never overwrites."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(KEY_BYTES))
