"""CA key files and the key folder: modes, no overwrites, rotation, fingerprints."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sshgate.ca import (
    KeyDir,
    KeyFileError,
    fingerprint,
    generate_ed25519_key_file,
    load_private_key,
    public_key_line,
)
from sshgate.ca.keys import next_key_name


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_private_key_is_mode_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "ca.key"
    line = generate_ed25519_key_file(path)
    assert _mode(path) == 0o600
    assert line.startswith("ssh-ed25519 AAAA") and len(line.split()) == 2
    assert (tmp_path / "ca.key.pub").read_text().strip() == line
    assert public_key_line(load_private_key(path).public_key()) == line


def test_generated_key_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        generate_ed25519_key_file(tmp_path / "ca.key")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ca.key") == 0o600


def test_generate_never_overwrites_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "ca.key"
    first = generate_ed25519_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_ed25519_key_file(path)
    assert path.read_bytes() == before
    assert (tmp_path / "ca.key.pub").read_text().strip() == first


def test_generate_refuses_when_only_the_public_file_exists(tmp_path: Path) -> None:
    (tmp_path / "ca.key.pub").write_text("ssh-ed25519 AAAA old\n")
    with pytest.raises(KeyFileError):
        generate_ed25519_key_file(tmp_path / "ca.key")
    assert not (tmp_path / "ca.key").exists()
    assert (tmp_path / "ca.key.pub").read_text() == "ssh-ed25519 AAAA old\n"


def test_generate_leaves_no_temporary_files(tmp_path: Path) -> None:
    generate_ed25519_key_file(tmp_path / "ca.key")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key", "ca.key.pub"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601], ids=oct)
def test_load_refuses_a_key_readable_by_group_or_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "ca.key"
    generate_ed25519_key_file(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as raised:
        load_private_key(path)
    message = str(raised.value)
    assert str(path) in message and f"{mode:04o}" in message
    assert "PRIVATE KEY" not in message and path.read_text().splitlines()[1] not in message


def test_load_accepts_mode_0400(tmp_path: Path) -> None:
    path = tmp_path / "ca.key"
    generate_ed25519_key_file(path)
    path.chmod(0o400)
    assert isinstance(load_private_key(path), Ed25519PrivateKey)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot open"):
        load_private_key(tmp_path / "absent.key")


def test_load_refuses_garbage_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "ca.key"
    path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXN0dWZm\n")
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as raised:
        load_private_key(path)
    assert "c2VjcmV0LXN0dWZm" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    line = generate_ed25519_key_file(tmp_path / "ca.key")
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "ca.key.pub")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    assert fingerprint(line) == shown
    assert fingerprint(load_private_key(tmp_path / "ca.key").public_key()) == shown


def test_fingerprint_of_a_line_equals_that_of_its_blob() -> None:
    import base64

    line = public_key_line(Ed25519PrivateKey.generate().public_key())
    blob = base64.b64decode(line.split()[1])
    assert fingerprint(line) == fingerprint(blob) == fingerprint(line + " comment")
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", fingerprint(blob))


def test_fingerprint_refuses_a_line_that_is_not_a_key() -> None:
    with pytest.raises(ValueError):
        fingerprint("ssh-ed25519 not*base64")


def test_ensure_creates_folder_0700_and_one_key(tmp_path: Path) -> None:
    folder = KeyDir(tmp_path / "keys")
    folder.ensure()
    assert _mode(folder.path) == 0o700
    files = folder.private_key_files()
    assert len(files) == 1
    assert re.fullmatch(r"ca-\d{8}T\d{6}Z-[0-9a-f]{4}\.key", files[0].name)
    folder.ensure()
    assert folder.private_key_files() == files


def test_rotate_makes_the_new_key_active_and_keeps_old_public_keys(tmp_path: Path) -> None:
    folder = KeyDir(tmp_path)
    first = folder.rotate(now=1767225600)
    second = folder.rotate(now=1767225600)  # same second: the name must still sort later
    third = folder.rotate(now=1767225000)  # clock went back
    path, key = folder.active()
    assert public_key_line(key.public_key()) == third
    assert path == folder.private_key_files()[-1]
    assert folder.public_keys() == [first, second, third]


def test_public_keys_are_readable_without_private_keys(tmp_path: Path) -> None:
    ca_host = KeyDir(tmp_path / "ca")
    ca_host.ensure()
    ca_host.rotate()
    gateway_dir = tmp_path / "gateway"
    gateway_dir.mkdir()
    for pub in ca_host.public_key_files():
        shutil.copy(pub, gateway_dir / pub.name)
    gateway = KeyDir(gateway_dir)
    assert gateway.public_keys() == ca_host.public_keys()
    assert gateway.private_key_files() == []
    with pytest.raises(KeyFileError, match="no CA private key"):
        gateway.active()


def test_key_folder_ignores_unrelated_files(tmp_path: Path) -> None:
    folder = KeyDir(tmp_path)
    line = folder.rotate(now=1767225600)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "ca-zzz.key").write_text("not a key")
    (tmp_path / ".ca-20260101T000000Z-0000.key.abc.tmp").write_text("half written")
    assert folder.public_keys() == [line]
    assert len(folder.private_key_files()) == 1


@pytest.mark.parametrize(
    ("existing", "now", "expected_stamp", "min_suffix"),
    [
        ([], 1767225600, "20260101T000000Z", 0),
        (["ca-20250101T000000Z-ffff.key"], 1767225600, "20260101T000000Z", 0),
        (["ca-20260101T000000Z-1234.key"], 1767225600, "20260101T000000Z", 0x1235),
        (["ca-20260101T000000Z-ffff.key"], 1767225600, "20260101T000001Z", 0),
        (["ca-20270101T000000Z-0007.key"], 1767225600, "20270101T000000Z", 8),
    ],
    ids=["empty", "older", "same-second", "same-second-full", "clock-behind"],
)
def test_next_key_name_sorts_after_existing(
    existing: list[str], now: int, expected_stamp: str, min_suffix: int
) -> None:
    for _ in range(50):
        name = next_key_name(existing, now)
        match = re.fullmatch(r"ca-(\d{8}T\d{6}Z)-([0-9a-f]{4})\.key", name)
        assert match and match.group(1) == expected_stamp
        assert int(match.group(2), 16) >= min_suffix
        assert all(name > other for other in existing)
