"""The gatekeeper end to end: stock ssh, scp, sftp and git through the gateway to a real sshd."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from tests.e2e.conftest import Deployment
from tests.support.deployment import Client, ref_of, upstream_logins, wait_until

MFA_MESSAGE = (
    "Error: Access denied\n"
    "Service: {service}\n"
    "User: {user} ({user_id})\n"
    'Parameters: {{"amr":["mfa"]}}\n'
    "Detail: Additional authentication is required:\n"
    "\t - Multifactor authentication (MFA)\n"
    "Hint: enable MFA (sshgate mfa setup), then refresh your certificate: sshgate login -f\n"
)
NO_ACCESS_MESSAGE = (
    "Error: The service doesn't exist or you do not have access to it.\n"
    "Service: {service}\n"
    "User: {user} ({user_id})\n"
)


def mfa_message(d: Deployment, service: str, user: str) -> str:
    return MFA_MESSAGE.format(service=service, user=user, user_id=d.users[user])


def no_access_message(d: Deployment, service: str, user: str) -> str:
    return NO_ACCESS_MESSAGE.format(service=service, user=user, user_id=d.users[user])


# --- a user whose certificate has mfa gets in -------------------------------------------


def test_alice_with_mfa_runs_a_command_with_exit_status(
    deployment: Deployment, alice: Client
) -> None:
    result = alice.ssh(deployment.service, "echo out; echo err >&2; exit 7")
    assert result.returncode == 7
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_stdin_and_eof_reach_the_environment(deployment: Deployment, alice: Client) -> None:
    data = os.urandom(300_000)
    result = alice.ssh(deployment.service, "sha256sum", stdin=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_alice_gets_an_interactive_pty_session(deployment: Deployment, alice: Client) -> None:
    result = alice.ssh(
        deployment.service, stdin="tty; stty size; echo marker-$((6*7)); exit 3\n", tty=True
    )
    assert result.returncode == 3, result.stderr
    out = result.stdout.decode(errors="replace")
    assert "/dev/pts/" in out
    assert "marker-42" in out


def test_window_size_is_passed_to_the_environment(deployment: Deployment, alice: Client) -> None:
    # `ssh -tt` with a pipe sends the default 80x24 unless told; here we check the PTY size
    # the environment sees is what the client requested.
    result = subprocess.run(
        [
            "script",
            "-qec",
            f"stty cols 123 rows 45; ssh -F {alice.config} -tt {deployment.service}@gw 'stty size'",
            "/dev/null",
        ],
        capture_output=True,
        timeout=60,
    )
    assert b"45 123" in result.stdout, (result.stdout, result.stderr)


def test_alice_copies_files_with_scp_both_protocols(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(2_000_000))
    remote = f"/tmp/sshgate-scp-{os.getpid()}"
    for flag in ([], ["-O"]):  # SFTP-based scp (default since OpenSSH 9) and legacy scp
        up = subprocess.run(
            [
                "scp",
                "-F",
                str(alice.config),
                *flag,
                str(source),
                f"{deployment.service}@gw:{remote}",
            ],
            capture_output=True,
            timeout=60,
        )
        assert up.returncode == 0, up.stderr
        back = tmp_path / f"back{len(flag)}.bin"
        down = subprocess.run(
            ["scp", "-F", str(alice.config), *flag, f"{deployment.service}@gw:{remote}", str(back)],
            capture_output=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stderr
        assert back.read_bytes() == source.read_bytes()
    Path(remote).unlink()


def test_alice_uses_sftp(deployment: Deployment, alice: Client, tmp_path: Path) -> None:
    source = tmp_path / "up.txt"
    source.write_text("sftp payload\n")
    remote = f"/tmp/sshgate-sftp-{os.getpid()}.txt"
    batch = tmp_path / "batch"
    batch.write_text(f"put {source} {remote}\nget {remote} {tmp_path / 'down.txt'}\nrm {remote}\n")
    result = subprocess.run(
        ["sftp", "-F", str(alice.config), "-b", str(batch), f"{deployment.service}@gw"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "down.txt").read_text() == "sftp payload\n"


def test_alice_clones_and_pushes_with_git(
    deployment: Deployment, alice: Client, tmp_path: Path
) -> None:
    project = deployment.project
    for remote in (f"{project}@gw:{project}.git", f"ssh://{project}@gw/{project}.git"):
        work = tmp_path / f"clone-{len(remote)}"
        clone = alice.git("clone", "-q", remote, str(work))
        assert clone.returncode == 0, clone.stderr
        assert (work / "README").read_text() == "seed\n"
    (work / "feature.txt").write_text("from alice\n")
    git = ["-C", str(work), "-c", "user.name=alice", "-c", "user.email=alice@example.com"]
    assert alice.git(*git, "add", "feature.txt").returncode == 0
    assert alice.git(*git, "commit", "-q", "-m", "feature").returncode == 0
    push = alice.git(*git, "push", "-q", "origin", "HEAD:refs/heads/alice-feature")
    assert push.returncode == 0, push.stderr
    local_head = alice.git(*git, "rev-parse", "HEAD").stdout.strip()
    assert ref_of(deployment.repo, "refs/heads/alice-feature") == local_head


def test_git_greeting_names_user_and_project(deployment: Deployment, alice: Client) -> None:
    result = alice.ssh(deployment.project)
    assert result.returncode == 0, result.stderr
    line = result.stdout.decode()
    assert line.count("\n") == 1
    assert "alice" in line and deployment.project in line


# --- a user without mfa gets the documented message, and nothing reaches upstream ------


def test_bob_without_mfa_gets_documented_error_on_ssh(deployment: Deployment, bob: Client) -> None:
    before = upstream_logins(deployment.env)
    result = bob.ssh(deployment.service, "touch /tmp/should-not-exist-bob")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode() == mfa_message(deployment, deployment.service, "bob")
    assert upstream_logins(deployment.env) == before
    assert not Path("/tmp/should-not-exist-bob").exists()


def test_bob_without_mfa_gets_crlf_message_with_a_pty(deployment: Deployment, bob: Client) -> None:
    result = bob.ssh(deployment.service, tty=True)
    assert result.returncode == 1
    expected = mfa_message(deployment, deployment.service, "bob").replace("\n", "\r\n")
    assert expected in result.stdout.decode() + result.stderr.decode()


def test_bob_without_mfa_gets_documented_error_on_git_clone(
    deployment: Deployment, bob: Client, tmp_path: Path
) -> None:
    before = upstream_logins(deployment.env)
    project = deployment.project
    result = bob.git("clone", f"{project}@gw:{project}.git", str(tmp_path / "clone"))
    assert result.returncode == 128
    assert mfa_message(deployment, project, "bob") in result.stderr
    assert "fatal: Could not read from remote repository." in result.stderr
    assert upstream_logins(deployment.env) == before


def test_bob_without_mfa_gets_documented_error_on_git_push(
    deployment: Deployment, bob: Client, tmp_path: Path
) -> None:
    project = deployment.project
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "x").write_text("bob\n")
    git = ["-C", str(work), "-c", "user.name=bob", "-c", "user.email=bob@example.com"]
    bob.git(*git, "add", "x")
    bob.git(*git, "commit", "-q", "-m", "bob")
    before_ref = ref_of(deployment.repo)
    before = upstream_logins(deployment.env)
    result = bob.git(*git, "push", f"{project}@gw:{project}.git", "HEAD:refs/heads/bob")
    assert result.returncode == 128
    assert mfa_message(deployment, project, "bob") in result.stderr
    assert "fatal: Could not read from remote repository." in result.stderr
    assert upstream_logins(deployment.env) == before
    assert ref_of(deployment.repo) == before_ref
    assert (
        subprocess.run(
            [
                "git",
                "--git-dir",
                str(deployment.repo),
                "rev-parse",
                "--verify",
                "-q",
                "refs/heads/bob",
            ],
            capture_output=True,
        ).returncode
        != 0
    )


def test_bob_gets_in_where_the_org_does_not_require_mfa(
    deployment: Deployment, bob: Client
) -> None:
    result = bob.ssh(deployment.open_service, "echo open")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"open\n"


# --- the other documented message ---------------------------------------------------------


def test_unknown_service_gets_no_access_message(deployment: Deployment, alice: Client) -> None:
    service = deployment.project + "-nope-abcdefg--app"
    result = alice.ssh(service, "true")
    assert result.returncode == 1
    assert result.stderr.decode() == no_access_message(deployment, service, "alice")


def test_user_without_grant_gets_no_access_message(deployment: Deployment, carol: Client) -> None:
    result = carol.ssh(deployment.service, "true")
    assert result.returncode == 1
    assert result.stderr.decode() == no_access_message(deployment, deployment.service, "carol")


def test_user_without_grant_cannot_clone(
    deployment: Deployment, carol: Client, tmp_path: Path
) -> None:
    project = deployment.project
    result = carol.git("clone", f"{project}@gw:{project}.git", str(tmp_path / "c"))
    assert result.returncode == 128
    assert no_access_message(deployment, project, "carol") in result.stderr


def test_service_line_escapes_and_cuts_hostile_names(deployment: Deployment, alice: Client) -> None:
    service = "x" * 200
    result = alice.ssh(service, "true")
    assert result.returncode == 1
    assert f"Service: {'x' * 128}\n" in result.stderr.decode()


# --- git commands other than the three pack commands ---------------------------------------


def test_git_route_refuses_other_commands_with_128(deployment: Deployment, alice: Client) -> None:
    project = deployment.project
    before = upstream_logins(deployment.env)
    for command in (
        "id",
        f"git-upload-pack '{project}.git' extra",
        "git-upload-pack '/etc/passwd'",
        f"git-lfs-authenticate {project}.git download",
        f"git-upload-pack '{project}.git; id'",
    ):
        result = alice.ssh(project, command)
        assert result.returncode == 128, command
        assert result.stderr.count(b"\n") == 1, result.stderr
    assert upstream_logins(deployment.env) == before


# --- live policy ---------------------------------------------------------------------------


def test_switching_mfa_required_on_applies_to_the_next_connection(
    deployment: Deployment, bob: Client
) -> None:
    assert bob.ssh(deployment.open_service, "true").returncode == 0
    deployment.admin("org", "mfa-required", "opensrc", "on")
    try:
        result = bob.ssh(deployment.open_service, "true")
        assert result.returncode == 1
        assert result.stderr.decode() == mfa_message(deployment, deployment.open_service, "bob")
    finally:
        deployment.admin("org", "mfa-required", "opensrc", "off")
    assert bob.ssh(deployment.open_service, "true").returncode == 0


def test_every_decision_is_audited(deployment: Deployment, alice: Client, bob: Client) -> None:
    bob.ssh(deployment.service, "true")
    alice.ssh(deployment.service, "true")
    records = deployment.admin("audit", "--since", "10m")["items"]
    assert isinstance(records, list)
    deny = [
        r
        for r in records
        if r["reason"] == "mfa-required" and r["user_id"] == deployment.users["bob"]
    ]
    allow = [
        r for r in records if r["decision"] == "allow" and r["user_id"] == deployment.users["alice"]
    ]
    assert deny and allow
    assert (
        deny[-1]["serial"]
        and deny[-1]["client"] == "127.0.0.1"
        and deny[-1]["service"] == deployment.service
    )
    assert wait_until(
        lambda: any(
            r["exit_status"] == 0
            for r in deployment.admin("audit", "--since", "10m")["items"]
            if r["decision"] == "allow"
        ),
        5,
    )
