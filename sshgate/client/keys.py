"""The user's SSH key: generated here, never sent anywhere but as its public half."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sshgate.client.home import KEY_FILE, write_private


@dataclass(frozen=True)
class KeyPair:
    """A key pair generated in memory: `private` in OpenSSH PEM, `public_line` as in .pub."""

    private: bytes
    public_line: str


def generate_key(comment: str) -> KeyPair:
    """A new Ed25519 key pair, not written anywhere yet."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return KeyPair(private, f"{public} {comment}")


def write_key(home: Path, pair: KeyPair) -> None:
    write_private(home / KEY_FILE, pair.private)
    write_private(home / f"{KEY_FILE}.pub", (pair.public_line + "\n").encode())


def new_key(home: Path, comment: str) -> str:
    """Write a new Ed25519 key pair to `home`; return the public key line."""
    pair = generate_key(comment)
    write_key(home, pair)
    return pair.public_line


def public_key(home: Path) -> str | None:
    try:
        return (home / f"{KEY_FILE}.pub").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
