"""The user's side of the trust: where the CLI sends passwords and tokens, how it pins the
gateway, and what it leaves on disk when something fails halfway."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from sshgate.client import renew as renew_module
from sshgate.client.api import ApiError, check_api_url
from sshgate.client.home import KEY_FILE, State, ensure_home, write_private
from sshgate.client.keys import generate_key, new_key
from sshgate.client.sshconfig import render_ssh_config


@pytest.mark.parametrize(
    "url",
    [
        "http://sshgate.example.com",
        "http://10.0.0.5:8022",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "ftp://127.0.0.1",
        "https://",
        "127.0.0.1:8022",
    ],
)
def test_passwords_and_tokens_never_go_over_plain_http_beyond_loopback(url: str) -> None:
    with pytest.raises(ApiError):
        check_api_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://sshgate.example.com",
        "http://127.0.0.1:8022",
        "http://localhost:8022",
        "http://[::1]:8022",
    ],
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    assert check_api_url(url) == url


def test_the_snippet_pins_the_gateway_host_key_and_offers_only_the_sshgate_key(
    tmp_path: Path,
) -> None:
    config = render_ssh_config(tmp_path, "gw.example.com", 2222, ["sshgate"])
    lines = [line.strip() for line in config.splitlines()]
    assert "StrictHostKeyChecking yes" in lines  # no trust on first use of the gateway
    assert f"UserKnownHostsFile {tmp_path / 'known_hosts'}" in lines
    assert "IdentitiesOnly yes" in lines  # the user's other keys are not offered


def test_the_home_folder_is_0700_and_its_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        home = ensure_home(tmp_path / "home")
        new_key(home, "test")
        write_private(home / "state.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / KEY_FILE
    write_private(target, b"previous key")

    def power_cut(fd: int) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(OSError):
        write_private(target, b"new key, half written")
    assert target.read_bytes() == b"previous key"
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


class _RefusingApi:
    """An API that went away before answering."""

    def __init__(self, url: str, token: str = "") -> None:
        pass

    def __enter__(self) -> _RefusingApi:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def call(self, method: str, path: str, body: Any = None) -> Any:
        raise ApiError("cannot reach the API at http://127.0.0.1:1: ConnectError")


def test_a_failed_certificate_request_keeps_the_previous_key_and_certificate_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = ensure_home(tmp_path / "home")
    new_key(home, "previous")
    write_private(home / f"{KEY_FILE}-cert.pub", b"certificate of the previous key\n")
    before = {p.name: p.read_bytes() for p in home.iterdir()}
    monkeypatch.setattr(renew_module, "Api", _RefusingApi)
    state = State(api="http://127.0.0.1:1", username="alice", token="sgs_x")
    with pytest.raises(ApiError):
        renew_module.renew(home, state, new=generate_key("sshgate:alice"))
    assert {p.name: p.read_bytes() for p in home.iterdir()} == before
