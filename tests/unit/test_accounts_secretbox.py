"""The secrets key: AES-GCM sealing bound to the user id, keyed hashes, and the key file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sshgate.accounts.errors import SecretsKeyError
from sshgate.accounts.secretbox import SecretBox, write_key_file


def test_sealed_secret_opens_only_for_the_same_user_and_key() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", "user-1")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed, "user-1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(SecretsKeyError):
        box.open(sealed, "user-2")
    with pytest.raises(SecretsKeyError):
        SecretBox(os.urandom(32)).open(sealed, "user-1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SecretsKeyError):
        box.open(tampered, "user-1")


def test_each_seal_uses_a_fresh_nonce() -> None:
    box = SecretBox(os.urandom(32))
    assert box.seal(b"same", "u") != box.seal(b"same", "u")


def test_keyed_hash_depends_on_key_and_purpose() -> None:
    a, b = SecretBox(b"a" * 32), SecretBox(b"b" * 32)
    assert a.keyed_hash("p", b"x") == a.keyed_hash("p", b"x")
    assert a.keyed_hash("p", b"x") != b.keyed_hash("p", b"x")
    assert a.keyed_hash("p", b"x") != a.keyed_hash("q", b"x")


def test_key_file_raw_or_hex(tmp_path: Path) -> None:
    raw = tmp_path / "raw.key"
    write_key_file(raw)
    box = SecretBox.from_file(raw)
    hex_file = tmp_path / "hex.key"
    hex_file.write_text(raw.read_bytes().hex() + "\n")
    hex_file.chmod(0o600)
    assert SecretBox.from_file(hex_file).keyed_hash("p", b"x") == box.keyed_hash("p", b"x")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=oct)
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secrets.key"
    write_key_file(path)
    path.chmod(mode)
    with pytest.raises(SecretsKeyError, match="chmod 600"):
        SecretBox.from_file(path)


@pytest.mark.parametrize("content", [b"", b"short", b"x" * 33, b"z" * 64], ids=len)
def test_key_file_of_wrong_size_is_refused_without_echoing_it(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "secrets.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SecretsKeyError) as info:
        SecretBox.from_file(path)
    if content:
        assert content.decode() not in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(SecretsKeyError, match="cannot open"):
        SecretBox.from_file(tmp_path / "absent.key")
