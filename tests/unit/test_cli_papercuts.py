"""What a new user tripped on (issue 14, item 5), run in-process through the CLI's entry
point: one line on stderr in words, never an exception's class name; usage errors on one
line; `init` takes the listen addresses; the wording of the MFA switch; the formats named in
errors; the `Include` advice only when ~/.ssh/config lacks it."""

from __future__ import annotations

import http.server
import io
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshgate.cli.account import ssh_config_includes_snippet
from sshgate.cli.app import run
from sshgate.client.api import Api, ApiError
from sshgate.client.sshconfig import includes_snippet
from sshgate.config import load_config
from sshgate.policy import SpecError, closing_words, parse_git_upstream


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        """`sshgate ARGS` in this process: (exit status, stdout, stderr)."""
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with pytest.raises(SystemExit) as exit_:
            run(list(args))
        captured = self.capsys.readouterr()
        return int(exit_.value.code or 0), captured.out, captured.err


@pytest.fixture
def sshgate(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("SSHGATE_CONFIG", raising=False)
    return Cli(capsys, monkeypatch)


@pytest.fixture
def deployment(sshgate: Cli, tmp_path: Path) -> Path:
    status, _, err = sshgate("init", "--data-dir", str(tmp_path / "data"))
    assert status == 0, err
    return tmp_path / "data"


def test_init_writes_the_listen_addresses_it_is_given(sshgate: Cli, tmp_path: Path) -> None:
    status, _, err = sshgate(
        "init", "--data-dir", str(tmp_path / "second"), "--gateway-listen", "127.0.0.1:3222",
        "--api-listen", "[::1]:9022", "--metrics-listen", "localhost:9123",
    )  # fmt: skip
    assert (status, err) == (0, "")
    config = load_config(tmp_path / "second" / "config.toml", env={})
    assert config.gateway.listen == "127.0.0.1:3222"
    assert config.api.listen == "[::1]:9022"
    assert config.metrics.listen == "localhost:9123"


def test_init_keeps_the_loopback_defaults(deployment: Path) -> None:
    config = load_config(deployment / "config.toml", env={})
    assert (config.gateway.listen, config.api.listen, config.metrics.listen) == (
        "127.0.0.1:2222",
        "127.0.0.1:8022",
        "127.0.0.1:9122",
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--api-listen", "127.0.0.1:2222"),
        ("--gateway-listen", "127.0.0.1"),
        ("--gateway-listen", "127.0.0.1:0"),
        ("--api-listen", 'a"b:8022'),
        ("--metrics-listen", "127.0.0.1:70000"),
    ],
    ids=["same-as-gateway", "no-port", "port-0", "quote", "port-too-big"],
)
def test_init_refuses_a_bad_listen_address_as_a_one_line_usage_error(
    sshgate: Cli, tmp_path: Path, args: tuple[str, str]
) -> None:
    status, out, err = sshgate("init", "--data-dir", str(tmp_path / "d"), *args)
    assert (status, out) == (2, "")
    assert err.startswith("sshgate: ") and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_init_where_no_folder_can_be_made_names_it_and_the_reason(
    sshgate: Cli, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    status, out, err = sshgate("init", "--data-dir", str(tmp_path / "file" / "x"))
    assert (status, out) == (1, "")
    assert err == (
        f"sshgate: {tmp_path / 'file' / 'x'}: cannot make the folder private (mode 0700):"
        " Not a directory\n"
    )


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="no /proc")
def test_init_in_proc_says_what_went_wrong_in_words(sshgate: Cli) -> None:
    status, _, err = sshgate("init", "--data-dir", "/proc/x")
    assert status == 1
    assert err == (
        "sshgate: /proc/x: cannot make the folder private (mode 0700): No such file or directory\n"
    )


def test_a_database_file_given_as_the_config_is_named_as_not_a_toml_configuration(
    sshgate: Cli, deployment: Path
) -> None:
    database = deployment / "sshgate.db"
    status, out, err = sshgate("admin", "audit", "--config", str(database))
    assert (status, out) == (1, "")
    assert err == f"sshgate: {database} is not a TOML configuration file (it is not text)\n"


def test_a_broken_toml_config_is_named_with_the_parser_s_reason(
    sshgate: Cli, tmp_path: Path
) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("[gateway\n")
    status, _, err = sshgate("admin", "audit", "--config", str(broken))
    assert status == 1
    assert err.startswith(f"sshgate: {broken} is not a valid TOML configuration file: ")
    assert err.count("\n") == 1 and "Error" not in err


def test_a_missing_choice_option_is_one_line_with_the_choices(
    sshgate: Cli, deployment: Path
) -> None:
    status, out, err = sshgate(
        "admin", "org", "member", "acme", "bob", "--config", str(deployment / "config.toml")
    )
    assert (status, out) == (2, "")
    assert err == (
        "sshgate: Missing option '--role'. Choose from: owner, admin, member"
        " (see: sshgate admin org member --help)\n"
    )


def test_password_stdin_is_an_ordinary_flag_and_its_absence_a_usage_error(
    sshgate: Cli, deployment: Path
) -> None:
    _, help_text, _ = sshgate("admin", "user", "add", "--help")
    flag = next(line for line in help_text.splitlines() if "--password-stdin" in line)
    assert "[required]" not in flag
    status, _, err = sshgate(
        "admin", "user", "add", "erin", "--email", "erin@example.com",
        "--config", str(deployment / "config.toml"),
    )  # fmt: skip
    assert status == 2
    assert err.startswith("sshgate: no password: pass --password-stdin with it on standard input")


def test_the_state_commands_say_what_they_do_in_the_imperative(sshgate: Cli) -> None:
    _, help_text, _ = sshgate("admin", "user", "--help")
    assert "Disable user NAME" in help_text
    assert "Disabled user NAME" not in help_text


def test_the_command_lists_show_whole_sentences(sshgate: Cli) -> None:
    for args in ((), ("admin",), ("admin", "user"), ("org",)):
        _, help_text, _ = sshgate(*args, "--help")
        commands = help_text.split("Commands:")[1]
        assert "..." not in commands, args


@pytest.mark.parametrize(
    ("closing", "level", "words"),
    [
        (0, "any", "0 open sessions of users without MFA will be closed"),
        (1, "any", "1 open session of users without MFA will be closed"),
        (2, "any", "2 open sessions of users without MFA will be closed"),
        (
            1,
            "phishing-resistant",
            "1 open session of users without a security key or passkey will be closed",
        ),
    ],
)
def test_the_sessions_to_close_are_counted_with_a_proper_plural(
    closing: int, level: str, words: str
) -> None:
    assert closing_words(closing, level) == words


@pytest.mark.parametrize(
    "spec", ["127.0.0.1:/x.git", "git@host:/x.git", "git@host:22", "host:22:/x.git", "@h:1:/x"]
)
def test_a_wrong_git_upstream_names_the_whole_expected_format(spec: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_git_upstream(spec)
    assert str(refused.value) == f"expected USER@HOST:PORT:/path/repo.git, got {spec!r}"


SNIPPET = Path("/home/ann/.sshgate/ssh_config")
HOME = Path("/home/ann")


@pytest.mark.parametrize(
    ("config", "included"),
    [
        ("Include ~/.sshgate/ssh_config\n", True),
        ("include /home/ann/.sshgate/ssh_config\n", True),
        ("  Include=~/.sshgate/ssh_config\n", True),
        ('Include "~/.sshgate/ssh_config" other\n', True),
        ("Include ../.sshgate/ssh_config\n", True),  # relative to ~/.ssh
        ("Include other ~/.sshgate/ssh_config\n", True),
        ("", False),
        ("# Include ~/.sshgate/ssh_config\n", False),
        ("Host *\n  IdentityFile ~/.sshgate/ssh_config\n", False),
        ("Include ~/.sshgate/ssh_config.old\n", False),
        ("Include ~/other/ssh_config\n", False),
    ],
)
def test_the_include_line_is_recognised_as_openssh_reads_it(config: str, included: bool) -> None:
    assert includes_snippet(config, SNIPPET, HOME) is included


def test_login_advises_the_include_line_only_when_ssh_config_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    sshgate_home = tmp_path / ".sshgate"
    assert not ssh_config_includes_snippet(sshgate_home)  # no ~/.ssh/config at all
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *\n  ServerAliveInterval 30\n")
    assert not ssh_config_includes_snippet(sshgate_home)
    (tmp_path / ".ssh" / "config").write_text("Include ~/.sshgate/ssh_config\nHost *\n")
    assert ssh_config_includes_snippet(sshgate_home)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_api_that_does_not_listen_is_connection_refused_in_words() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Api(url) as api, pytest.raises(ApiError) as refused:
        api.call("GET", "/api/account")
    assert str(refused.value) == (
        f"cannot reach the API at {url}: connection refused (is the API running, and on that port?)"
    )


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_https_to_a_plain_http_port_is_named_a_tls_problem(plain_http_server: int) -> None:
    url = f"https://127.0.0.1:{plain_http_server}"
    with Api(url) as api, pytest.raises(ApiError) as refused:
        api.call("GET", "/api/account")
    message = str(refused.value)
    assert message.startswith(f"cannot reach the API at {url}: TLS problem: ")
    assert "plain http" in message and "Error" not in message
