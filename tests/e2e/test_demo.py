"""`sshgate demo`: the walkthrough passes, and the demo is safe on a shared machine (random
passwords per run, an environment that never logs anyone in as root, its own login user
removed when it stops), keeps its log lines in a file, and refuses a deployment's folder."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deployment import sshgate, wait_until

pytestmark = pytest.mark.e2e

PASSWORD_LINE = re.compile(r"^  (alice|bob): (\S+)$")
LOGIN_USER_LINE = re.compile(r"^The environment logs everyone in as (\S+) \(")


def passwords(output: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in map(PASSWORD_LINE.match, output.splitlines()) if m}


def login_user(output: str) -> str:
    found = [m.group(1) for m in map(LOGIN_USER_LINE.match, output.splitlines()) if m]
    assert len(found) == 1, output
    return found[0]


def exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def two_runs() -> list[subprocess.CompletedProcess[str]]:
    return [sshgate("demo", "--check", check=False) for _ in range(2)]


def test_demo_check_runs_the_walkthrough_and_passes(
    two_runs: list[subprocess.CompletedProcess[str]],
) -> None:
    for result in two_runs:
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[-1] == "demo check passed"
        assert not any(line.startswith("FAIL") for line in lines)
        assert "ok   this run's passwords of alice and bob log in to the API" in lines
        assert "ok   alice (MFA) runs a command over ssh" in lines


def test_two_demo_runs_get_different_random_passwords_that_log_in(
    two_runs: list[subprocess.CompletedProcess[str]],
) -> None:
    first, second = (passwords(result.stdout) for result in two_runs)
    assert set(first) == set(second) == {"alice", "bob"}, two_runs[0].stdout
    assert first["alice"] != first["bob"]
    for name in ("alice", "bob"):
        assert first[name] != second[name]
        assert len(first[name]) >= 16 and first[name] != "demo-password-123"


def test_the_demo_environment_never_logs_in_as_root_and_its_login_user_is_removed(
    two_runs: list[subprocess.CompletedProcess[str]],
) -> None:
    users = [login_user(result.stdout) for result in two_runs]
    for result, user in zip(two_runs, users, strict=True):
        assert "ok   the environment's shell is not root's" in result.stdout.splitlines()
        assert user != "root"
        if os.geteuid() == 0:  # this machine and CI: a login user of the run's own
            assert user.startswith("sshgate-demo-")
            assert not exists(user), f"{user} was left behind"
    assert os.geteuid() != 0 or users[0] != users[1]


def test_demo_check_refuses_a_folder_holding_a_deployments_config(tmp_path: Path) -> None:
    data = tmp_path / "deployment"
    sshgate("init", "--data-dir", str(data))
    config = (data / "config.toml").read_bytes()
    before = sorted(p.name for p in data.iterdir())
    result = sshgate("demo", "--check", "--data-dir", str(data), check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"sshgate: {data} already holds a deployment's config.toml; give the demo a new folder\n"
    )
    assert (data / "config.toml").read_bytes() == config
    assert sorted(p.name for p in data.iterdir()) == before


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, list[str]]]:
    folder = tmp_path / "demo"
    process = subprocess.Popen(
        [sys.executable, "-m", "sshgate.cli.main", "demo", "--data-dir", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Stop with Ctrl-C."):
                break
        yield process, folder, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_demo_logs_to_a_file_and_its_instructions_stay_on_screen(
    running_demo: tuple[subprocess.Popen[str], Path, list[str]],
) -> None:
    process, folder, lines = running_demo
    log = folder / "demo.log"
    assert f"sshgate demo: log lines go to {log}" in lines
    assert lines[-1] == "Stop with Ctrl-C.", lines
    assert not any(" event=" in line for line in lines)  # no log line among the instructions
    assert wait_until(lambda: "event=ready" in log.read_text(), 10)
    user = login_user("\n".join(lines))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert " event=" not in stderr  # the log lines went to the file, not to the screen
    assert "event=stopped" in log.read_text()
    if os.geteuid() == 0:
        assert not exists(user), f"{user} was left behind"


def processes_under(folder: Path) -> list[int]:
    """Processes whose command line names a file in `folder` (the demo's sshd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in command:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="the demo makes a login user only as root")
def test_a_killed_demos_login_user_and_sshd_are_removed_by_the_next_demo(
    running_demo: tuple[subprocess.Popen[str], Path, list[str]],
) -> None:
    process, folder, lines = running_demo
    user = login_user("\n".join(lines))
    process.kill()  # SIGKILL: nothing of the demo's own clean-up runs
    process.wait(timeout=30)
    try:
        assert exists(user)
        left = processes_under(folder)
        assert left, "the killed demo's sshd should still run"
        result = sshgate("demo", "--check", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not exists(user), f"{user} was left behind"
        assert wait_until(lambda: not processes_under(folder), 10), processes_under(folder)
    finally:
        for pid in processes_under(folder):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if exists(user):
            subprocess.run(["userdel", "--remove", "--force", user], check=False)
