"""A whole deployment per test module: init, a real sshd environment with a git repository,
the admin bootstrap through the CLI, and `sshgate serve` on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca.keys import KeyDir
from sshgate.demo.sshd import EnvironmentServer, free_port
from sshgate.store import open_store
from tests.support.deployment import (
    Client,
    EchoServer,
    Server,
    make_bare_repo,
    sshgate,
    sshgate_json,
)

if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
    pytest.skip("OpenSSH server not installed", allow_module_level=True)

PASSWORD = "correct horse battery"


@dataclass
class Deployment:
    root: Path
    config: Path
    env: EnvironmentServer
    server: Server
    gateway_port: int
    api_port: int
    repo: Path
    metrics_port: int = 0
    project: str = ""
    service: str = ""
    open_project: str = ""
    open_service: str = ""
    users: dict[str, str] = field(default_factory=dict)

    def admin(self, *args: str, stdin: str | None = None) -> dict[str, object]:
        return sshgate_json("admin", *args, config=self.config, stdin=stdin)

    def add_user(self, name: str) -> str:
        """`sshgate admin user add NAME` with the test password; returns the user id."""
        created = self.admin(
            "user", "add", name, "--email", f"{name}@example.com", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        self.users[name] = str(created["id"])
        return self.users[name]

    @property
    def store_url(self) -> str:
        """The store `sshgate admin` uses: SSHGATE_STORAGE_URL when a test sets it (a
        PostgreSQL database), else the SQLite file of `sshgate init`."""
        return os.environ.get("SSHGATE_STORAGE_URL") or "sqlite:///sshgate.db"

    def gateway_host_key(self) -> str:
        words = (self.root / "data" / "gateway_host_key.pub").read_text().split()
        return f"{words[0]} {words[1]}"

    def client(self, name: str) -> Client:
        return Client(
            name, self.root / "clients" / name, self.gateway_port, self.gateway_host_key()
        )

    def issue(
        self, client: Client, username: str, amr: tuple[str, ...], ttl: int | None = None
    ) -> int:
        """Sign `client`'s key for `username` with the deployment's CA, as the API would."""
        return asyncio.run(self._issue(client, username, amr, ttl))

    async def _issue(
        self, client: Client, username: str, amr: tuple[str, ...], ttl: int | None
    ) -> int:
        store = await open_store(self.store_url, str(self.root / "data"))
        try:
            user = await store.get_user_by_name(username)
            assert user is not None
            ca = CertificateAuthority(KeyDir(self.root / "data" / "ca"), store, CAPolicy())
            issued = await ca.issue(
                user, client.public_key, amr, int(time.time()), str(uuid.uuid4()), ttl=ttl
            )
        finally:
            await store.close()
        client.cert.write_text(issued.certificate + "\n")
        return issued.serial

    def enable_mfa(self, username: str) -> None:
        async def run() -> None:
            store = await open_store(self.store_url, str(self.root / "data"))
            try:
                user = await store.get_user_by_name(username)
                assert user is not None
                await store.set_mfa_secret(user.id, b"test-only-not-a-real-secret")
                await store.enable_mfa(user.id, time.time())
            finally:
                await store.close()

        asyncio.run(run())


def start_deployment(
    root: Path, extra_env: dict[str, str] | None = None, nofile: int | None = None
) -> Deployment:
    data = root / "data"
    sshgate("init", "--data-dir", str(data))
    config = data / "config.toml"
    env = EnvironmentServer(root / "env", trusted_user_ca=data / "upstream_ca.pub")
    env.start()
    repo = root / "repos" / "project.git"
    repo.parent.mkdir(parents=True)
    make_bare_repo(repo)
    gateway_port, api_port, metrics_port = free_port(), free_port(), free_port()
    overrides = {
        "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}",
        "SSHGATE_API_LISTEN": f"127.0.0.1:{api_port}",
        "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        # "{api_port}" in a value names the API's port, e.g. a public_url on localhost.
        **{k: v.replace("{api_port}", str(api_port)) for k, v in (extra_env or {}).items()},
    }
    server = Server(config, overrides, nofile=nofile)
    deployment = Deployment(root, config, env, server, gateway_port, api_port, repo, metrics_port)
    try:
        _bootstrap(deployment)
        server.start()
    except BaseException:
        server.stop()
        env.stop()
        raise
    return deployment


def _bootstrap(d: Deployment) -> None:
    for name in ("alice", "bob", "carol"):
        d.add_user(name)
    d.admin("org", "add", "acme", "--addon", "advanced-user-management")
    d.admin("org", "add", "opensrc")
    for name in ("alice", "bob", "carol"):
        d.admin("org", "member", "acme", name, "--role", "member")
    d.admin("org", "member", "opensrc", "bob", "--role", "member")
    upstream = d.env.upstream
    host_key = str(d.env.host_key_pub)
    d.project = str(
        d.admin(
            "project",
            "add",
            "acme",
            "--title",
            "Acme web",
            "--git-upstream",
            f"{upstream}:{d.repo}",
            "--host-key-file",
            host_key,
        )["id"]
    )
    d.open_project = str(
        d.admin(
            "project",
            "add",
            "opensrc",
            "--title",
            "Open",
            "--git-upstream",
            f"{upstream}:{d.repo}",
            "--host-key-file",
            host_key,
        )["id"]
    )
    for name in ("alice", "bob"):
        d.admin("project", "grant", d.project, name, "--role", "contributor")
    d.admin("project", "grant", d.open_project, "bob", "--role", "contributor")
    d.service = str(
        d.admin(
            "env", "add", d.project, "main", "--upstream", upstream, "--host-key-file", host_key
        )["service"]
    )
    d.open_service = str(
        d.admin(
            "env",
            "add",
            d.open_project,
            "main",
            "--upstream",
            upstream,
            "--host-key-file",
            host_key,
        )["service"]
    )
    d.admin("org", "mfa-required", "acme", "on")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("deployment"))
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


@pytest.fixture(scope="module")
def alice(deployment: Deployment) -> Client:
    deployment.enable_mfa("alice")
    client = deployment.client("alice")
    deployment.issue(client, "alice", ("pwd", "mfa"))
    return client


@pytest.fixture(scope="module")
def bob(deployment: Deployment) -> Client:
    client = deployment.client("bob")
    deployment.issue(client, "bob", ("pwd",))
    return client


@pytest.fixture(scope="module")
def carol(deployment: Deployment) -> Client:
    client = deployment.client("carol")
    deployment.issue(client, "carol", ("pwd",))
    return client


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    """A TCP echo server on the environment's host, a destination for port forwards."""
    server = EchoServer()
    try:
        yield server
    finally:
        server.close()
