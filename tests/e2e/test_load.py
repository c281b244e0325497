"""Load with integrity: many clients at once through one gateway, and nothing lost.

Through one `sshgate serve` on this machine, all at once: CLONES `git clone`s and PUSHES
`git push`es of distinct branches (together), then TRANSFERS `scp` uploads and `sftp`
downloads of random files (half each). Every clone's HEAD is the repository's, every
pushed branch landed with its commit, the repository passes `git fsck`, every file's
SHA-256 matches, and the audit log holds one `allow` record per session, each with its
exit status.

Counts (environment variables, defaults from issue 7): SSHGATE_TEST_LOAD_CLONES=200,
SSHGATE_TEST_LOAD_PUSHES=50, SSHGATE_TEST_LOAD_TRANSFERS=100. Every client of a phase
starts at once (no client-side pool smaller than the phase).

The environment's sshd allows that many (sshgate.demo.sshd: MaxStartups 1000:30:1000,
MaxSessions 1000), and `SetEnv SHLVL=1` keeps bash from sourcing the login user's
~/.bashrc for each of them (on the CI machine that runs `pyenv init`: a dozen processes per
session, which would measure the machine's shell setup rather than the gateway). Every
client connects from 127.0.0.1, so the gateway's per-source limit is raised for this test
(it bounds what one address may hold unauthenticated; here that is the whole load).
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sshgate.demo.sshd import EnvironmentServer
from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import Client, make_bare_repo, ref_of, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.load]

CLONES = int(os.environ.get("SSHGATE_TEST_LOAD_CLONES", "200"))
PUSHES = int(os.environ.get("SSHGATE_TEST_LOAD_PUSHES", "50"))
TRANSFERS = int(os.environ.get("SSHGATE_TEST_LOAD_TRANSFERS", "100"))
# Per client process; a loaded 2-core machine is slow, a stuck client is a failure.
CLIENT_TIMEOUT = 600


@dataclass
class Site:
    d: Deployment
    env: EnvironmentServer
    project: str
    service: str
    repo: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    everyone = str(4 * (CLONES + PUSHES + TRANSFERS))
    d = start_deployment(
        tmp_path_factory.mktemp("load"),
        {
            "SSHGATE_GATEWAY_MAX_PER_SOURCE": everyone,
            "SSHGATE_GATEWAY_MAX_UNAUTHENTICATED": everyone,
            # A stranger's limit; here hundreds of handshakes share two cores, possibly
            # with other test runs on the same machine.
            "SSHGATE_GATEWAY_LOGIN_TIMEOUT": "300",
        },
    )
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


@pytest.fixture(scope="module")
def site(deployment: Deployment) -> Iterator[Site]:
    d = deployment
    env = EnvironmentServer(
        d.root / "load-env",
        trusted_user_ca=d.root / "data" / "upstream_ca.pub",
        extra_config="SetEnv SHLVL=1\n",
    )
    env.start()
    try:
        config = env.config_path.read_text()
        assert "MaxStartups 1000:30:1000" in config and "MaxSessions 1000" in config
        repo = d.root / "repos" / "load.git"
        seed_repository(repo)
        host_key = str(env.host_key_pub)
        project = str(
            d.admin(
                "project",
                "add",
                "acme",
                "--title",
                "Load",
                "--git-upstream",
                f"{env.upstream}:{repo}",
                "--host-key-file",
                host_key,
            )["id"]
        )
        d.admin("project", "grant", project, "alice", "--role", "contributor")
        service = str(
            d.admin(
                "env",
                "add",
                project,
                "load",
                "--upstream",
                env.upstream,
                "--host-key-file",
                host_key,
            )["service"]
        )
        yield Site(d, env, project, service, repo)
    finally:
        env.stop()


def seed_repository(repo: Path) -> None:
    """A bare repository with a few commits and about a megabyte of files."""
    make_bare_repo(repo)
    work = repo.parent / "load-work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    git = ["git", "-C", str(work), "-c", "user.name=seed", "-c", "user.email=seed@example.com"]
    for commit in range(4):
        for n in range(25):
            (work / f"file-{commit}-{n}.bin").write_bytes(os.urandom(10_000))
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"commit {commit}"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "main"], check=True)


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def all_at_once(tasks: list[Callable[[], str | None]]) -> list[str]:
    """Run every task in a thread of its own, all started together; return the failures."""
    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        results = list(pool.map(lambda task: task(), tasks))
    return [r for r in results if r is not None]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_concurrent_clones_pushes_and_file_transfers_lose_nothing(
    site: Site, alice: Client, tmp_path: Path
) -> None:
    d, project = site.d, site.project
    started = time.time()
    remote = f"{project}@gw:{project}.git"
    head = ref_of(site.repo)

    # Each push is a branch of its own with a commit of its own, from one local repository
    # (pushed by refspec to the URL, so no push touches another's remote-tracking ref).
    pusher = tmp_path / "pusher"
    subprocess.run(["git", "clone", "-q", str(site.repo), str(pusher)], check=True)
    git = ["git", "-C", str(pusher), "-c", "user.name=alice", "-c", "user.email=a@example.com"]
    pushed: dict[int, str] = {}
    for n in range(PUSHES):
        subprocess.run([*git, "checkout", "-q", "-b", f"b{n}", "main"], check=True)
        (pusher / f"push-{n}.txt").write_text(f"push {n} {os.urandom(8).hex()}\n")
        subprocess.run([*git, "add", f"push-{n}.txt"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"push {n}"], check=True)
        pushed[n] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()

    def clone(n: int) -> Callable[[], str | None]:
        def task() -> str | None:
            target = tmp_path / "clones" / f"c{n}"
            result = run(["git", "clone", "-q", remote, str(target)], alice.git_env())
            if result.returncode != 0:
                return f"clone {n}: {result.stderr.strip()}"
            got = run(["git", "-C", str(target), "rev-parse", "HEAD"]).stdout.strip()
            return None if got == head else f"clone {n}: HEAD {got}, expected {head}"

        return task

    def push(n: int) -> Callable[[], str | None]:
        def task() -> str | None:
            result = run(
                [
                    "git",
                    "-C",
                    str(pusher),
                    "push",
                    "-q",
                    remote,
                    f"refs/heads/b{n}:refs/heads/load-{n}",
                ],
                alice.git_env(),
            )
            return None if result.returncode == 0 else f"push {n}: {result.stderr.strip()}"

        return task

    # Pushes spread among the clones, so both kinds run side by side.
    git_tasks = [clone(n) for n in range(CLONES)]
    for n in range(PUSHES):
        git_tasks.insert(n * (CLONES // max(PUSHES, 1) + 1), push(n))
    phase = time.monotonic()
    failures = all_at_once(git_tasks)
    git_seconds = time.monotonic() - phase
    assert not failures, f"{len(failures)} failed, first: {failures[:3]}"
    for n, commit in pushed.items():
        assert ref_of(site.repo, f"refs/heads/load-{n}") == commit
    assert ref_of(site.repo) == head
    fsck = run(["git", "--git-dir", str(site.repo), "fsck", "--full", "--strict"])
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    # Random files both ways: uploads with scp, downloads with sftp.
    rng = random.Random(7)
    local, upstream = tmp_path / "files", tmp_path / "upstream"
    local.mkdir()
    upstream.mkdir()  # the environment's disk (its sshd runs on this machine)
    uploads, downloads = TRANSFERS // 2, TRANSFERS - TRANSFERS // 2
    for n in range(uploads):
        (local / f"up-{n}").write_bytes(os.urandom(rng.randint(1, 1_000_000)))
    for n in range(downloads):
        (upstream / f"down-{n}").write_bytes(os.urandom(rng.randint(1, 1_000_000)))

    def upload(n: int) -> Callable[[], str | None]:
        def task() -> str | None:
            source, target = local / f"up-{n}", upstream / f"up-{n}"
            result = run(
                ["scp", "-q", "-F", str(alice.config), str(source), f"{site.service}@gw:{target}"]
            )
            if result.returncode != 0:
                return f"scp {n}: {result.stderr.strip()}"
            return None if sha256(target) == sha256(source) else f"scp {n}: digest differs"

        return task

    def download(n: int) -> Callable[[], str | None]:
        def task() -> str | None:
            source, target = upstream / f"down-{n}", local / f"down-{n}"
            batch = tmp_path / f"batch-{n}"
            batch.write_text(f"get {source} {target}\n")
            result = run(
                ["sftp", "-q", "-F", str(alice.config), "-b", str(batch), f"{site.service}@gw"]
            )
            if result.returncode != 0:
                return f"sftp {n}: {result.stderr.strip()}"
            return None if sha256(target) == sha256(source) else f"sftp {n}: digest differs"

        return task

    transfer_tasks = [upload(n) for n in range(uploads)] + [download(n) for n in range(downloads)]
    phase = time.monotonic()
    failures = all_at_once(transfer_tasks)
    transfer_seconds = time.monotonic() - phase
    assert not failures, f"{len(failures)} failed, first: {failures[:3]}"

    # One allow record per session, and each one's outcome (written when it ended).
    expected = Counter({"git-pull": CLONES, "git-push": PUSHES, "subsystem": uploads + downloads})

    def records() -> list[dict[str, object]]:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 1))
        items = d.admin("audit", "--since", since, "--user", "alice", "--limit", "100000")["items"]
        assert isinstance(items, list)
        return [
            r for r in items if r["decision"] == "allow" and r["service"] in (project, site.service)
        ]

    found = records()
    assert Counter(str(r["kind"]) for r in found) == expected
    assert wait_until(lambda: all(r["exit_status"] == 0 for r in records()), 30), [
        r for r in records() if r["exit_status"] != 0
    ][:3]
    print(
        f"\n{CLONES} clones + {PUSHES} pushes in {git_seconds:.1f} s; "
        f"{TRANSFERS} transfers in {transfer_seconds:.1f} s"
    )
