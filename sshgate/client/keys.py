"""The user's SSH key: generated here, never sent anywhere but as its public half."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sshgate.client.home import KEY_FILE, write_private


def new_key(home: Path, comment: str) -> str:
    """Write a new Ed25519 key pair to `home`; return the public key line."""
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
    line = f"{public} {comment}"
    write_private(home / KEY_FILE, private)
    write_private(home / f"{KEY_FILE}.pub", (line + "\n").encode())
    return line


def public_key(home: Path) -> str | None:
    try:
        return (home / f"{KEY_FILE}.pub").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
