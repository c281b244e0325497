"""`sshgate init` leaves nothing readable by others, whatever the umask it runs under."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshgate import datadir
from sshgate.datadir import InitError, initialize


def _modes(root: Path) -> Iterator[tuple[Path, int]]:
    yield root, stat.S_IMODE(root.lstat().st_mode)
    for path in sorted(root.rglob("*")):
        yield path, stat.S_IMODE(path.lstat().st_mode)


def _initialize_under(umask: int, data: Path) -> None:
    old = os.umask(umask)
    try:
        initialize(data, gateway="127.0.0.1:0", api="127.0.0.1:0", metrics="127.0.0.1:0")
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", [0o000, 0o022], ids=["umask-000", "umask-022"])
def test_init_writes_files_0600_public_halves_0644_and_folders_0700_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    data = tmp_path / "data"
    _initialize_under(umask, data)
    seen = dict(_modes(data))
    assert data / "config.toml" in seen and data / "upstream_ca.pub" in seen
    for path, mode in seen.items():
        if path.is_dir():
            expected = 0o700
        elif path.name.endswith(".pub"):
            expected = 0o644
        else:
            expected = 0o600
        assert mode == expected, f"{path.relative_to(tmp_path)}: {mode:04o}"


def test_init_tightens_existing_folders_to_0700(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "ca").mkdir(parents=True)
    os.chmod(data, 0o777)
    os.chmod(data / "ca", 0o777)
    _initialize_under(0o000, data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "ca").stat().st_mode) == 0o700


def test_init_refuses_a_folder_it_cannot_make_private_with_a_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)

    def not_owner(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(datadir.os, "chmod", not_owner)
    with pytest.raises(InitError) as refused:
        initialize(data)
    assert str(refused.value) == (
        f"{data}: cannot make the folder private (mode 0700): Operation not permitted"
    )
    assert not (data / "config.toml").exists()


def test_init_refuses_a_key_folder_that_is_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ca").write_text("not a folder")
    with pytest.raises(InitError, match="not a folder"):
        initialize(data)
