"""The user's side of the trust: where the CLI sends passwords and tokens, how it pins the
gateway, and what it leaves on disk when something fails halfway."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sshgate.client import renew as renew_module
from sshgate.client.api import ApiError, check_api_url
from sshgate.client.home import KEY_FILE, State, ensure_home, write_private
from sshgate.client.keys import generate_key, new_key
from sshgate.client.login import LoginRequest, log_in, sshgate_command
from sshgate.client.sshconfig import (
    GatewayPin,
    SSHConfigError,
    check_config_path,
    gateway_pin,
    render_ssh_config,
)


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
    pin = GatewayPin("gw.example.com", 2222, ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",))
    config = render_ssh_config(tmp_path, pin, ["sshgate"])
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


# --- nothing a server sends becomes a directive in ssh_config --------------------------------

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGU="
INJECTED = "gw.example.com\n  ProxyCommand sh -c 'touch /tmp/sshgate-pwned'\nMatch all\n#"
PREVIOUS_CONFIG = b"# the ssh_config of the previous login\n"


class _FakeApi(http.server.BaseHTTPRequestHandler):
    """Just enough of the API for `sshgate login`: whatever the test puts in `authority`."""

    authority: ClassVar[dict[str, Any]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(self.authority)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/api/auth/login":
            self._answer(
                {
                    "user": {"username": "alice", "id": "7d7f3c1e"},
                    "token": "sgs_session",
                    "expires_at": "2099-01-01T00:00:00Z",
                    "amr": ["pwd"],
                }
            )
        else:  # /api/ssh/certificate: an answer the old code wrote without a second look
            self._answer(
                {
                    "certificate": "ssh-ed25519-cert-v01@openssh.com AAAA",
                    "serial": 1,
                    "valid_before": "2099-01-01T00:00:00Z",
                    "amr": ["pwd"],
                }
            )


@contextlib.contextmanager
def _fake_api(gateway: dict[str, Any]) -> Iterator[str]:
    handler = type("Handler", (_FakeApi,), {"authority": {"gateway": gateway}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _login(home: Path, api: str) -> subprocess.CompletedProcess[str]:
    """`sshgate login` as a user runs it, without an ssh-agent."""
    env = {**os.environ, "SSHGATE_HOME": str(home)}
    env.pop("SSH_AUTH_SOCK", None)
    return subprocess.run(
        [*sshgate_command(), "login", "--api", api, "--user", "alice", "--password-stdin"],
        input="secret\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


MALICIOUS = [
    pytest.param({"host": INJECTED, "port": 2222}, id="newline-proxycommand"),
    pytest.param({"host": "gw.example.com ProxyCommand=id", "port": 2222}, id="space"),
    pytest.param({"host": "*", "port": 2222}, id="pattern"),
    pytest.param({"host": "gw.example.com%d", "port": 2222}, id="percent-token"),
    pytest.param({"host": "gw.example.com", "port": "2222\n  ProxyCommand id"}, id="port"),
    pytest.param({"host": "gw.example.com", "port": 0}, id="port-0"),
    pytest.param(
        {"host": "gw.example.com", "port": 2222, "host_keys": [HOST_KEY + "\n* ssh-ed25519 AAAA"]},
        id="host-key-newline",
    ),
    pytest.param(
        {"host": "gw.example.com", "port": 2222, "host_keys": ["@cert-authority * " + HOST_KEY]},
        id="host-key-marker",
    ),
]


@pytest.mark.parametrize("gateway", MALICIOUS)
def test_nothing_of_a_malicious_authority_answer_is_written(
    tmp_path: Path, gateway: dict[str, Any]
) -> None:
    home = ensure_home(tmp_path / "home")
    write_private(home / "ssh_config", PREVIOUS_CONFIG)
    request = LoginRequest("", "alice", "secret", None, None, True)
    with (
        _fake_api({"host_keys": [HOST_KEY], **gateway}) as api,
        pytest.raises(SSHConfigError) as caught,
    ):
        log_in(home, dataclasses.replace(request, api=api), None)
    assert str(caught.value).startswith("refusing ")
    assert "\n" not in str(caught.value)
    assert (home / "ssh_config").read_bytes() == PREVIOUS_CONFIG
    assert not (home / "known_hosts").exists()
    assert not (home / f"{KEY_FILE}-cert.pub").exists()  # refused before anything was written


def test_a_malicious_authority_answer_leaves_ssh_config_untouched_and_prints_the_refusal(
    tmp_path: Path,
) -> None:
    home = ensure_home(tmp_path / "home")
    write_private(home / "ssh_config", PREVIOUS_CONFIG)
    with _fake_api({"host": INJECTED, "port": 2222, "host_keys": [HOST_KEY]}) as api:
        result = _login(home, api)
    assert result.returncode == 1, result.stderr
    assert (home / "ssh_config").read_bytes() == PREVIOUS_CONFIG
    assert not (home / "known_hosts").exists()
    assert result.stdout == ""
    assert result.stderr.startswith("sshgate: refusing the gateway address the API sent: ")
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "with %d token",
        'with " quote',
        "with ' quote",
        "with \\ backslash",
        "with $HOME",
        "with ${HOME}",
        "with #",
        "with\ttab",
        "with\nnewline",
        "with\u00a0nbsp",
    ],
    ids=repr,
)
def test_an_sshgate_home_openssh_would_misread_or_expand_is_refused(
    tmp_path: Path, name: str
) -> None:
    home = tmp_path / name
    request = LoginRequest("http://127.0.0.1:1", "alice", "secret", None, None, True)
    with pytest.raises(SSHConfigError) as caught:
        log_in(home, request, None)  # refused before the API is even asked
    assert str(caught.value).startswith("SSHGATE_HOME ")
    assert "\n" not in str(caught.value)
    assert not home.exists()


def test_the_home_refusal_is_one_line_before_the_password_is_sent(tmp_path: Path) -> None:
    home = tmp_path / "100%home"
    with _fake_api({"host": "gw.example.com", "port": 2222, "host_keys": [HOST_KEY]}) as api:
        result = _login(home, api)
    assert result.returncode == 1
    assert result.stderr.startswith("sshgate: SSHGATE_HOME ")
    assert "ssh_config" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not home.exists()


def test_a_home_with_spaces_is_written_quoted_and_openssh_reads_it_back(tmp_path: Path) -> None:
    home = ensure_home(tmp_path / "My Documents" / ".sshgate")
    pin = gateway_pin("gw.example.com", 2222, [HOST_KEY])
    (home / "ssh_config").write_text(render_ssh_config(home, pin, sshgate_command()))
    result = subprocess.run(
        ["ssh", "-G", "-F", str(home / "ssh_config"), "-p", "2222", "gw.example.com"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PATH": os.environ.get("PATH", "")},
    )
    # ssh -G evaluates `Match exec` by running it: the command runs cert ensure, which
    # finds no login state and exits 0, so the block applies.
    lines = result.stdout.splitlines()
    assert f"identityfile {home / KEY_FILE}" in lines, result.stderr
    assert f"certificatefile {home / KEY_FILE}-cert.pub" in lines
    assert f"userknownhostsfile {home / 'known_hosts'}" in lines


@pytest.mark.parametrize(
    "path", ["/home/alice/.sshgate", "/Users/Alice Smith/.sshgate", "/home/zoë/.sshgate"]
)
def test_ordinary_homes_are_fit_for_ssh_config(path: str) -> None:
    assert check_config_path("SSHGATE_HOME", path) == path


def test_a_host_key_must_be_a_key_type_and_base64() -> None:
    assert gateway_pin("gw", 22, [HOST_KEY + " comment"]).host_keys == (HOST_KEY,)
    for bad in ["ssh-ed25519 not*base64", "ssh-ed25519", "*,x AAAA", 5]:
        with pytest.raises(SSHConfigError):
            gateway_pin("gw", 22, [bad])
    with pytest.raises(SSHConfigError):
        gateway_pin("gw", 22, [])
