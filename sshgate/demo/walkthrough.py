"""`sshgate demo`: the embedded single-host setup on loopback, with a throw-away data folder.

An org that requires MFA, alice (MFA enabled, certificate with `mfa`), bob (no MFA), a
project with a git repository and an environment served by a real sshd. `--check` runs the
walkthrough itself: alice's ssh and git succeed, bob's get the documented message.

Safe on a shared machine: the users' passwords are random for each run and printed only to
the person who ran it, and the environment never logs anyone in as root (see
`sshgate.demo.loginuser`). Log lines go to `demo.log` in the demo's folder, so that the
instructions stay on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca import KeyDir
from sshgate.config import load_config
from sshgate.datadir import initialize
from sshgate.demo.console import console_sees_mfa_status, enroll_authenticator
from sshgate.demo.identity import ClientIdentity
from sshgate.demo.loginuser import LoginUser, demo_login_user, give
from sshgate.demo.sshd import EnvironmentServer, free_port
from sshgate.logs import configure
from sshgate.policy import PASSWORD_ONLY, WITH_CODE
from sshgate.runtime import Runtime
from sshgate.store import Store

ORG = "demo"
USERS = ("alice", "bob")
LOG_FILE = "demo.log"


def demo_password() -> str:
    """A password for one demo user, for this run only (about 96 bits)."""
    return secrets.token_urlsafe(12)


def data_dir_refusal(path: Path) -> str | None:
    """Why `--data-dir path` cannot hold a demo, or None: the demo writes keys, a database
    and a configuration there, so a folder of a deployment (its config.toml), or any folder
    with something in it, is refused rather than written into."""
    if (path / "config.toml").exists() or (path / "data" / "config.toml").exists():
        return f"{path} already holds a deployment's config.toml; give the demo a new folder"
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        return f"{path} is not empty; give the demo a new or empty folder"
    return None


@dataclass
class DemoSite:
    root: Path
    login_user: LoginUser
    config: Path = field(init=False)
    env: EnvironmentServer = field(init=False)
    repo: Path = field(init=False)
    gateway_port: int = 0
    api_port: int = 0
    project: str = ""
    service: str = ""
    identities: dict[str, ClientIdentity] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    totp_secret: str = ""  # alice's authenticator secret, for the Console
    throwaway: bool = True  # its folder is removed when the demo stops

    def admin(self, *args: str, stdin: str | None = None) -> dict[str, object]:
        """Run one `sshgate admin` command in this process and return its JSON answer."""
        from sshgate.cli import cli

        out = io.StringIO()
        with contextlib.redirect_stdout(out), _stdin(stdin):
            cli.main(
                args=["admin", *args, "--config", str(self.config), "--json"],
                prog_name="sshgate",
                standalone_mode=False,
            )
        result: dict[str, object] = json.loads(out.getvalue().strip().splitlines()[-1])
        return result


@contextlib.contextmanager
def _stdin(text: str | None):  # type: ignore[no-untyped-def]
    import sys

    if text is None:
        yield
        return
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def prepare(root: Path, login_user: LoginUser) -> DemoSite:
    """Keys, config, database, an sshd environment and the demo's org, users and project."""
    site = DemoSite(root, login_user)
    site.gateway_port, site.api_port = free_port(), free_port()
    site.config = initialize(
        root / "data",
        gateway=f"127.0.0.1:{site.gateway_port}",
        api=f"127.0.0.1:{site.api_port}",
        metrics=f"127.0.0.1:{free_port()}",
    )
    site.env = EnvironmentServer(
        root / "environment",
        root / "data" / "upstream_ca.pub",
        login_user=login_user.name,
        extra_config=f"PermitRootLogin no\nAllowUsers {login_user.name}\n",
    )
    site.env.start()
    # The repository is the login user's: what the environment runs for git runs as them.
    site.repo = login_user.home / "repositories" / "demo.git"
    _seed_repository(site.repo)
    give(login_user, site.repo.parent)
    for name in USERS:
        site.passwords[name] = demo_password()
        site.admin(
            "user",
            "add",
            name,
            "--email",
            f"{name}@example.com",
            "--password-stdin",
            stdin=site.passwords[name] + "\n",
        )
    site.admin("org", "add", ORG, "--addon", "advanced-user-management")
    site.admin("org", "member", ORG, "alice", "--role", "owner")
    site.admin("org", "member", ORG, "bob", "--role", "member")
    host_key = str(site.env.host_key_pub)
    site.project = str(
        site.admin(
            "project",
            "add",
            ORG,
            "--title",
            "Demo app",
            "--git-upstream",
            f"{site.env.upstream}:{site.repo}",
            "--host-key-file",
            host_key,
        )["id"]
    )
    site.admin("project", "grant", site.project, "bob", "--role", "contributor")
    site.service = str(
        site.admin(
            "env",
            "add",
            site.project,
            "main",
            "--upstream",
            site.env.upstream,
            "--host-key-file",
            host_key,
        )["service"]
    )
    site.admin("org", "mfa-required", ORG, "on")
    return site


def _seed_repository(repo: Path) -> None:
    repo.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    seed = repo.parent / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("# Demo app\n\nServed through sshgate.\n")
    git = ["git", "-C", str(seed), "-c", "user.name=demo", "-c", "user.email=demo@example.com"]
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Initial commit"], check=True)
    subprocess.run([*git, "push", "-q", str(repo), "main"], check=True)
    shutil.rmtree(seed)


async def issue_demo_certificates(site: DemoSite, store: Store) -> None:
    """alice enrolls MFA and gets a certificate with `mfa`; bob's has only `pwd`."""
    config = load_config(site.config)
    ca = CertificateAuthority(KeyDir(config.ca.key_dir), store, CAPolicy())
    host_key = (site.root / "data" / "gateway_host_key.pub").read_text().split()
    for name, amr in (("alice", WITH_CODE), ("bob", PASSWORD_ONLY)):
        user = await store.get_user_by_name(name)
        assert user is not None
        if "mfa" in amr:
            site.totp_secret = await enroll_authenticator(config, store, user)
            user = await store.get_user(user.id)
            assert user is not None
        identity = ClientIdentity(
            site.root / "users" / name, "127.0.0.1", site.gateway_port, " ".join(host_key[:2])
        )
        issued = await ca.issue(user, identity.public_key, amr, int(time.time()), str(uuid.uuid4()))
        identity.write_certificate(issued.certificate)
        site.identities[name] = identity


def instructions(site: DemoSite) -> list[str]:
    alice, bob = site.identities["alice"].config, site.identities["bob"].config
    p, s = site.project, site.service
    return [
        f"sshgate demo is running; its data lives in {site.root}"
        + (" (removed on Ctrl-C)." if site.throwaway else "."),
        f"  gateway 127.0.0.1:{site.gateway_port}, API http://localhost:{site.api_port}",
        f"  Console http://localhost:{site.api_port}/ (sign in as alice or bob)",
        f'  organization "{ORG}" requires MFA; project {p} ("Demo app"); service {s}',
        f"  log lines go to {site.root / LOG_FILE}",
        "",
        *password_lines(site),
        "",
        "As alice (MFA enabled, certificate with mfa), these succeed:",
        f"  ssh -F {alice} {s}@gw 'echo hello from the environment'",
        f"  ssh -F {alice} {s}@gw",
        f'  GIT_SSH_COMMAND="ssh -F {alice}" git clone {p}@gw:{p}.git demo-clone',
        "",
        "As bob (no MFA), the same commands get the documented refusal:",
        f"  ssh -F {bob} {s}@gw 'echo hello'",
        f'  GIT_SSH_COMMAND="ssh -F {bob}" git clone {p}@gw:{p}.git bob-clone',
        "",
        f"Operator commands: sshgate admin audit --config {site.config}",
        "Stop with Ctrl-C.",
    ]


def password_lines(site: DemoSite) -> list[str]:
    """The passwords of this run (random, shown only here) and whom the environment logs in as."""
    user = site.login_user
    where = "created for this run, removed when it stops" if user.created else "you"
    return [
        "Passwords of this run (for sshgate login --api http://127.0.0.1:"
        f"{site.api_port} --user NAME):",
        *(f"  {name}: {site.passwords[name]}" for name in USERS),
        f"alice's authenticator secret (add it to a TOTP app for her codes): {site.totp_secret}",
        f"The environment logs everyone in as {user.name} ({where}).",
    ]


Check = tuple[str, Callable[[], bool]]


def walkthrough_checks(site: DemoSite, workdir: Path) -> list[Check]:
    alice, bob = site.identities["alice"], site.identities["bob"]
    p, s = site.project, site.service

    def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
        )

    def passwords() -> bool:
        import httpx

        url = f"http://127.0.0.1:{site.api_port}/api/auth/login"
        answers = {
            name: httpx.post(
                url, json={"username": name, "password": site.passwords[name]}, timeout=30
            )
            for name in USERS
        }
        try:
            alice_error = answers["alice"].json().get("error")
        except (ValueError, AttributeError):
            alice_error = None
        # bob logs in; alice's password is right too, and her second factor is asked for.
        return answers["bob"].is_success and alice_error == "mfa_code_required"

    def not_root() -> bool:
        result = run(alice.ssh_command(s, "id -u"))
        return result.returncode == 0 and result.stdout.strip() not in ("", "0")

    def alice_ssh() -> bool:
        result = run(alice.ssh_command(s, "echo hello from the environment"))
        return result.returncode == 0 and result.stdout == "hello from the environment\n"

    def alice_git() -> bool:
        clone = workdir / "alice-clone"
        result = run(["git", "clone", "-q", f"{p}@gw:{p}.git", str(clone)], alice.git_env())
        if result.returncode != 0 or not (clone / "README.md").exists():
            return False
        (clone / "CHANGELOG").write_text("pushed through sshgate\n")
        git = ["git", "-C", str(clone), "-c", "user.name=alice", "-c", "user.email=a@example.com"]
        run([*git, "add", "CHANGELOG"])
        run([*git, "commit", "-q", "-m", "Changelog"])
        return run([*git, "push", "-q", "origin", "main"], alice.git_env()).returncode == 0

    def bob_ssh() -> bool:
        result = run(bob.ssh_command(s, "echo hello"))
        return (
            result.returncode == 1
            and result.stdout == ""
            and result.stderr.startswith(f"Error: Access denied\nService: {s}\nUser: bob (")
            and "\t - Multifactor authentication (MFA)\n" in result.stderr
        )

    def bob_git() -> bool:
        result = run(["git", "clone", f"{p}@gw:{p}.git", str(workdir / "bob")], bob.git_env())
        return (
            result.returncode == 128
            and "Error: Access denied" in result.stderr
            and "fatal: Could not read from remote repository." in result.stderr
        )

    def console() -> bool:
        return console_sees_mfa_status(
            f"http://127.0.0.1:{site.api_port}",
            "alice",
            site.passwords["alice"],
            site.totp_secret,
            ORG,
            {"alice": True, "bob": False},
        )

    return [
        ("this run's passwords of alice and bob log in to the API", passwords),
        ("alice signs in to the Console; its Security page shows who has MFA", console),
        ("alice (MFA) runs a command over ssh", alice_ssh),
        ("the environment's shell is not root's", not_root),
        ("alice (MFA) clones and pushes with git", alice_git),
        ("bob (no MFA) gets the documented message over ssh", bob_ssh),
        ("bob (no MFA) gets the documented message from git clone", bob_git),
    ]


async def run_demo(root: Path | None, check: bool, emit: Callable[[str], None]) -> int:
    """Run the demo in `root` (a new temporary folder when None, removed at the end)."""
    owned = root is None
    root = Path(tempfile.mkdtemp(prefix="sshgate-demo-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / LOG_FILE
    with log_path.open("a", encoding="utf-8") as log_file:
        configure("text", logging.INFO, stream=log_file)
        emit(f"sshgate demo: log lines go to {log_path}")
        try:
            with demo_login_user(root / "home") as login_user:
                return await _run_site(root, login_user, check, owned, emit)
        finally:
            configure("text", logging.WARNING)
            if owned:
                shutil.rmtree(root, ignore_errors=True)


async def _run_site(
    root: Path, login_user: LoginUser, check: bool, throwaway: bool, emit: Callable[[str], None]
) -> int:
    site: DemoSite | None = None
    try:
        site = await asyncio.to_thread(prepare, root, login_user)
        site.throwaway = throwaway
        runtime = Runtime(str(site.config), "all")
        if not check:
            # Ctrl-C from now on stops the demo in order, even before its instructions.
            runtime.handle_signals()
        await runtime.start()
        stopped = False
        try:
            assert runtime.store is not None
            await issue_demo_certificates(site, runtime.store)
            if not check:
                for line in instructions(site):
                    emit(line)
                await runtime.run_until_signalled()
                stopped = True
                return 0
            for line in password_lines(site):
                emit(line)
            failures = 0
            for name, probe in walkthrough_checks(site, root / "check"):
                ok = await asyncio.to_thread(probe)
                failures += not ok
                emit(f"{'ok  ' if ok else 'FAIL'} {name}")
            emit("demo check passed" if not failures else f"demo check failed: {failures} step(s)")
            return 1 if failures else 0
        finally:
            if not stopped:
                await runtime.stop(drain=False)
    finally:
        if site is not None:
            site.env.stop()
