"""Logging out ends SSH access (issue 13 item 7), with a real ssh-agent and ssh: `sshgate
logout` ends the session, which revokes its certificates, removes the key and certificate
from the agent, and the next `ssh` to the gateway prints sshgate's own hint."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSWORD, Deployment
from tests.support.deployment import CLI


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """A real ssh-agent on its own socket, stopped at the end."""
    sock = tmp_path / "agent.sock"
    process = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        yield str(sock)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_logout_revokes_the_certificate_empties_the_agent_and_ssh_says_to_log_in(
    deployment: Deployment, agent: str, tmp_path: Path
) -> None:
    d = deployment
    home = tmp_path / ".sshgate"
    config = tmp_path / "ssh_config"
    config.write_text(f"Include {home / 'ssh_config'}\nHost *\n  BatchMode yes\n")
    env = {
        **os.environ,
        "SSHGATE_HOME": str(home),
        "SSHGATE_API": f"http://127.0.0.1:{d.api_port}",
        "SSH_AUTH_SOCK": agent,
    }
    env.pop("SSHGATE_CONFIG", None)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, input=stdin, capture_output=True, text=True, env=env, timeout=60
        )

    def ssh(*options: str) -> subprocess.CompletedProcess[str]:
        return run("ssh", "-F", str(config), *options, f"{d.open_service}@127.0.0.1", "echo in")

    login = run(*CLI, "login", "--user", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    assert len(run("ssh-add", "-l").stdout.splitlines()) == 2  # the key and its certificate
    assert ssh().stdout == "in\n"
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in ("id_ed25519", "id_ed25519-cert.pub"):
        shutil.copy(home / name, kept / name)

    logout = run(*CLI, "logout")
    assert logout.returncode == 0, logout.stderr
    assert "removed from ssh-agent" in logout.stdout
    assert run("ssh-add", "-l").returncode == 1  # the agent has no identities

    after = ssh()
    assert after.returncode == 255
    assert "sshgate: you are not logged in; run: sshgate login" in after.stderr

    # the certificate itself was revoked with the session: a copy kept aside is refused
    stolen = run(
        "ssh",
        "-F",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={home / 'known_hosts'}",
        "-i",
        str(kept / "id_ed25519"),
        "-o",
        f"CertificateFile={kept / 'id_ed25519-cert.pub'}",
        "-p",
        str(d.gateway_port),
        f"{d.open_service}@127.0.0.1",
        "echo in",
    )
    assert stolen.returncode == 255
    assert "sshgate: your SSH certificate was revoked; run: sshgate login -f" in stolen.stderr
