"""The whole story as a new user lives it, over real HTTP and real SSH: log in without MFA
and meet the documented refusal; enable MFA (set up, verify & save); `sshgate login -f`;
get in. The certificate OpenSSH uses is the one `sshgate login` wrote, found through the
written config snippet only."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import PASSWORD, Deployment
from tests.support.deployment import CLI, ref_of


class User:
    """A person with their own SSHGATE_HOME and an ~/.ssh/config that only Includes the snippet."""

    def __init__(self, d: Deployment, name: str, root: Path) -> None:
        self.d = d
        self.name = name
        self.home = root / name / ".sshgate"
        self.ssh_config = root / name / "ssh_config"
        self.ssh_config.parent.mkdir(parents=True, exist_ok=True)
        self.ssh_config.write_text(
            f"Include {self.home / 'ssh_config'}\nHost *\n  BatchMode yes\n  IdentityAgent none\n"
        )
        self.env = {
            **os.environ,
            "SSHGATE_HOME": str(self.home),
            "SSHGATE_API": f"http://127.0.0.1:{d.api_port}",
        }
        self.env.pop("SSHGATE_CONFIG", None)

    def sshgate(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            input=stdin or "",
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    def json(self, *args: str, stdin: str | None = None) -> Any:
        result = self.sshgate(*args, "--json", stdin=stdin)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def ssh(self, target: str, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), f"{target}@127.0.0.1", *command],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **self.env,
            "GIT_SSH_COMMAND": f"ssh -F {self.ssh_config}",
            "GIT_TERMINAL_PROMPT": "0",
        }
        return subprocess.run(["git", *args], capture_output=True, text=True, env=env, timeout=120)


def remote(d: Deployment) -> str:
    return f"ssh://{d.project}@127.0.0.1:{d.gateway_port}/{d.project}.git"


def code_after(secret: str, used: set[int]) -> str:
    """A valid code from a time step not used yet: the current one, or the next (±1 window)."""
    totp = pyotp.TOTP(secret)
    for offset in (0, 30, -30):
        step = int((time.time() + offset) // 30)
        if step not in used:
            used.add(step)
            return totp.at(step * 30)
    raise AssertionError("no unused time step")


@pytest.fixture(scope="module")
def frank(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> User:
    d = deployment
    created = d.admin(
        "user",
        "add",
        "frank",
        "--email",
        "frank@example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    d.users["frank"] = str(created["id"])
    d.admin("org", "member", "acme", "frank", "--role", "member")
    d.admin("project", "grant", d.project, "frank", "--role", "contributor")
    return User(d, "frank", tmp_path_factory.mktemp("people"))


def test_new_user_without_mfa_then_with_mfa(
    deployment: Deployment, frank: User, tmp_path: Path
) -> None:
    d = deployment
    login = frank.json("login", "--user", "frank", "--password-stdin", stdin=PASSWORD + "\n")
    assert login["amr"] == ["pwd"]
    assert frank.json("cert", "info")["mfa"] is False
    assert (frank.home / "ssh_config").exists()
    assert oct((frank.home).stat().st_mode & 0o777) == "0o700"
    for name in ("id_ed25519", "id_ed25519-cert.pub", "state.json", "ssh_config", "known_hosts"):
        assert (frank.home / name).stat().st_mode & 0o077 == 0, name

    denied = frank.ssh(d.service, "echo hi")
    assert denied.returncode == 1
    assert denied.stderr.startswith(
        f"Error: Access denied\nService: {d.service}\nUser: frank ({d.users['frank']})\n"
    )
    assert "\t - Multifactor authentication (MFA)\n" in denied.stderr

    work = tmp_path / "work"
    clone = frank.git("clone", "-q", remote(d), str(work))
    assert clone.returncode == 128 and "Error: Access denied" in clone.stderr

    # Enable MFA on the account: set up the application, then verify & save.
    setup = frank.json("mfa", "setup")
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    used: set[int] = set()
    verified = frank.json("mfa", "verify", code_after(setup["secret"], used))
    assert verified["mfa"] is True and len(verified["recovery_codes"]) == 10

    # The certificate from before still lacks mfa: refresh the credentials.
    assert frank.ssh(d.service, "true").returncode == 1
    relogin = frank.json(
        "login",
        "-f",
        "--password-stdin",
        "--totp",
        code_after(setup["secret"], used),
        stdin=PASSWORD + "\n",
    )
    assert relogin["amr"] == ["pwd", "otp", "mfa"]
    info = frank.json("cert", "info")
    assert info["mfa"] is True and info["amr"] == ["pwd", "otp", "mfa"]
    assert info["principals"] == ["frank"]

    allowed = frank.ssh(d.service, "echo hello")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "hello\n"

    clone = frank.git("clone", "-q", remote(d), str(work))
    assert clone.returncode == 0, clone.stderr
    (work / "frank.txt").write_text("frank\n")
    git = ["-C", str(work), "-c", "user.name=frank", "-c", "user.email=frank@example.com"]
    assert frank.git(*git, "add", "frank.txt").returncode == 0
    assert frank.git(*git, "commit", "-q", "-m", "frank").returncode == 0
    push = frank.git(*git, "push", "-q", "origin", "HEAD:refs/heads/frank")
    assert push.returncode == 0, push.stderr
    assert ref_of(d.repo, "refs/heads/frank") == frank.git(*git, "rev-parse", "HEAD").stdout.strip()


def test_login_with_mfa_enabled_needs_a_code(deployment: Deployment, frank: User) -> None:
    result = frank.sshgate("login", "-f", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1


def test_wrong_password_and_unknown_user_say_the_same(
    deployment: Deployment, tmp_path: Path
) -> None:
    stranger = User(deployment, "stranger", tmp_path)
    wrong = stranger.sshgate(
        "login", "--user", "frank", "--password-stdin", stdin="wrong password\n"
    )
    unknown = stranger.sshgate(
        "login", "--user", "nobody-here", "--password-stdin", stdin="wrong password\n"
    )
    assert wrong.returncode == unknown.returncode == 1
    assert wrong.stderr == unknown.stderr


def _short_certificate(user: User, ttl: int) -> int:
    """Replace the user's certificate by one that expires within `ttl` seconds."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sshgate.client.home import State\n"
        "from sshgate.client.renew import renew\n"
        "home = Path(sys.argv[1]); state = State.load(home)\n"
        "print(renew(home, state, ttl=int(sys.argv[2]))['serial'])\n"
    )
    result = subprocess.run(
        [CLI[0], "-c", code, str(user.home), str(ttl)],
        capture_output=True,
        text=True,
        env=user.env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_a_certificate_about_to_expire_is_renewed_by_plain_ssh(
    deployment: Deployment, frank: User
) -> None:
    short_serial = _short_certificate(frank, 200)
    assert frank.json("cert", "info")["serial"] == short_serial
    result = frank.ssh(deployment.service, "echo renewed")
    assert result.returncode == 0, result.stderr
    info = frank.json("cert", "info")
    assert info["serial"] != short_serial
    assert info["mfa"] is True  # renewal keeps the session's amr


def test_after_mfa_reset_renewal_stops_and_the_user_gets_the_hint(
    deployment: Deployment, frank: User
) -> None:
    _short_certificate(frank, 200)
    deployment.admin("user", "mfa-reset", "frank")
    result = frank.ssh(deployment.service, "echo no")
    assert "sshgate: your login session has ended; run: sshgate login -f" in result.stderr
    assert result.returncode == 1
    assert "Error: Access denied" in result.stderr  # the old certificate no longer counts as mfa
