"""The benchmark's deployment on loopback: an environment sshd, an OpenSSH bastion sshd, and
sshgate (`sshgate init`, the admin bootstrap through the CLI, `sshgate serve --role all`),
an org that requires MFA, and one user who enabled MFA through the user CLI. The user holds
two certificates with `mfa`: the one `sshgate login` fetched into `$SSHGATE_HOME` (used
through its ssh_config snippet), and one issued in process for the `gateway` host of the
benchmark's own ssh_configs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.asyncclient import AsyncTargets
from bench.clientconf import (
    LOGIN_SNIPPET,
    ClientFiles,
    Endpoints,
    known_hosts_lines,
    login_snippet_config_text,
    option_value,
    write_ssh_configs,
)
from bench.processes import BenchSetupError, GatewayProcess, sshgate_cli, sshgate_json
from bench.repo import RepoFacts, RepoShape, generate, init_bare
from bench.userhome import UserHome
from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca.keys import KeyDir
from sshgate.config import load_config
from sshgate.demo.identity import ClientIdentity
from sshgate.demo.sshd import EnvironmentServer, free_port
from sshgate.store import open_store

ORG = "bench"
USER = "alice"
PASSWORD = "bench-password-not-secret"
# Every benchmark client comes from 127.0.0.1, so the per-source cap must allow the crowd.
MAX_PER_SOURCE = 4096


def _keygen(path: Path) -> None:
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )


@dataclass
class BenchSite:
    root: Path
    repo_shape: RepoShape
    workers: int = 1  # gateway.workers: sshgate serve processes sharing the listener
    data: Path = field(init=False)
    config: Path = field(init=False)
    cli_env: dict[str, str] = field(init=False)
    env: EnvironmentServer = field(init=False)
    bastion: EnvironmentServer = field(init=False)
    gateway: GatewayProcess = field(init=False)
    user: ClientIdentity = field(init=False)
    account: UserHome = field(init=False)
    plain_key: Path = field(init=False)
    source_repo: Path = field(init=False)
    push_repo: Path = field(init=False)
    repo_facts: RepoFacts | None = None
    gateway_port: int = 0
    api_port: int = 0
    service: str = ""
    clone_project: str = ""
    push_project: str = ""
    ssh_configs: dict[str, Path] = field(default_factory=dict)
    login_snippet_config: Path = field(init=False)
    snippet_host: str = ""  # the gateway host the snippet's `Match host` names
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data = self.root / "data"
        self.config = self.data / "config.toml"
        self.cli_env = {**os.environ, "SSHGATE_CONFIG": str(self.config)}
        self.plain_key = self.root / "client" / "id_plain"
        self.source_repo = self.root / "repos" / "source.git"
        self.push_repo = self.root / "repos" / "push.git"
        self.login_snippet_config = self.root / "client" / f"ssh_config.{LOGIN_SNIPPET}"

    # lifecycle
    def start(self) -> None:
        (self.root / "client").mkdir(mode=0o700, parents=True, exist_ok=True)
        sshgate_cli("init", "--data-dir", str(self.data), env=self.cli_env)
        self._start_sshds()
        self.repo_facts = generate(self.source_repo, self.repo_shape)
        init_bare(self.push_repo)
        self._bootstrap()
        self._start_gateway()
        # MFA through the user CLI needs the API, so the gateway (role `all`) comes first.
        self.account = UserHome.create(self.root / "client" / "sshgate-home", self.api_url)
        self.account.enable_mfa(USER, PASSWORD)
        self.user = ClientIdentity(self.root / "client" / USER, "127.0.0.1", 0, "unused")
        asyncio.run(self._issue(self.user, ("pwd", "otp", "mfa")))
        self._write_client_files()
        self.notes.append(
            f"gateway.max_per_source raised to {MAX_PER_SOURCE}: every client is 127.0.0.1"
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _start_gateway(self) -> None:
        self.gateway_port, self.api_port = free_port(), free_port()
        overrides = {
            "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{self.gateway_port}",
            "SSHGATE_API_LISTEN": f"127.0.0.1:{self.api_port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_GATEWAY_MAX_PER_SOURCE": str(MAX_PER_SOURCE),
            "SSHGATE_GATEWAY_DRAIN_TIMEOUT": "1",
            "SSHGATE_LOG_FORMAT": "text",
        }
        if self.workers != 1:
            overrides["SSHGATE_GATEWAY_WORKERS"] = str(self.workers)
            self.notes.append(
                f"gateway.workers = {self.workers}: gateway CPU and memory are summed over "
                "the serve process and its workers"
            )
        self.gateway = GatewayProcess({**self.cli_env, **overrides}, self.root / "sshgate.log")
        self.gateway.start()

    def stop(self) -> None:
        """Stop every server that was started, each even when another one fails to stop."""
        errors = []
        for name in ("gateway", "bastion", "env"):
            server = self.__dict__.get(name)
            if server is None:
                continue
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{name}: {exc}")
        if errors:
            raise BenchSetupError("; ".join(errors))

    # the pieces
    def _start_sshds(self) -> None:
        _keygen(self.plain_key)
        authorized = self.root / "client" / "authorized_keys"
        authorized.write_text(Path(f"{self.plain_key}.pub").read_text())
        # `Match all` overrides EnvironmentServer's `AuthorizedKeysFile none`, so the direct
        # and bastion paths log in with the plain key; the gateway keeps its certificate.
        # SHLVL=1: bash sources ~/.bashrc for sshd's sessions only at shell level 1, and a
        # developer's ~/.bashrc (pyenv init here: 0.15 s) is not what is being measured.
        match = f"Match all\n  AuthorizedKeysFile {authorized}\n  SetEnv SHLVL=1\n"
        no_ca = self.root / "bastion-no-user-ca.pub"
        no_ca.write_text("")
        self.env = EnvironmentServer(
            self.root / "env", self.data / "upstream_ca.pub", extra_config=match
        )
        self.bastion = EnvironmentServer(self.root / "bastion", no_ca, extra_config=match)
        self.env.start()
        self.bastion.start()

    def _admin(self, *args: str, stdin: str | None = None) -> dict[str, object]:
        return sshgate_json("admin", *args, env=self.cli_env, stdin=stdin)

    def _bootstrap(self) -> None:
        self._admin(
            "user",
            "add",
            USER,
            "--email",
            f"{USER}@example.com",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        self._admin("org", "add", ORG, "--addon", "advanced-user-management")
        self._admin("org", "member", ORG, USER, "--role", "member")
        host_key = str(self.env.host_key_pub)
        upstream = self.env.upstream
        projects = []
        for title, repo in (("Clone", self.source_repo), ("Push", self.push_repo)):
            created = self._admin(
                "project",
                "add",
                ORG,
                "--title",
                title,
                "--git-upstream",
                f"{upstream}:{repo}",
                "--host-key-file",
                host_key,
            )
            project = str(created["id"])
            self._admin("project", "grant", project, USER, "--role", "contributor")
            projects.append(project)
        self.clone_project, self.push_project = projects
        created = self._admin(
            "env",
            "add",
            self.clone_project,
            "main",
            "--upstream",
            upstream,
            "--host-key-file",
            host_key,
        )
        self.service = str(created["service"])
        self._admin("org", "mfa-required", ORG, "on")

    async def _issue(self, who: ClientIdentity, amr: tuple[str, ...]) -> None:
        """A certificate for `who`'s key from the CA in process, with `amr` as given."""
        config = load_config(self.config, env={})
        store = await open_store(config.storage.url, str(config.base_dir))
        try:
            user = await store.get_user_by_name(USER)
            if user is None:
                raise BenchSetupError(f"user {USER} missing after bootstrap")
            if "mfa" in amr and not user.mfa_enabled:
                raise BenchSetupError(f"user {USER} has no MFA after `sshgate mfa verify`")
            ca = CertificateAuthority(KeyDir(config.ca.key_dir), store, CAPolicy())
            issued = await ca.issue(user, who.public_key, amr, int(time.time()), str(uuid.uuid4()))
        finally:
            await store.close()
        who.write_certificate(issued.certificate)

    def issue_without_mfa(self) -> ClientIdentity:
        """A second key of the same user, certified with `amr` = pwd only."""
        who = ClientIdentity(self.root / "client" / "no-mfa", "127.0.0.1", 0, "unused")
        asyncio.run(self._issue(who, ("pwd",)))
        return who

    def _write_client_files(self) -> None:
        known_hosts = self.root / "client" / "known_hosts"
        known_hosts.write_text(
            known_hosts_lines(
                [
                    (self.env.port, self.env.host_key_pub),
                    (self.bastion.port, self.bastion.host_key_pub),
                    (self.gateway_port, self.data / "gateway_host_key.pub"),
                ]
            )
        )
        self.ssh_configs = write_ssh_configs(self.root / "client", self.endpoints, self.files)
        self._write_login_snippet_config()

    def _write_login_snippet_config(self) -> None:
        state = self.account.state()
        if state.gateway_port != self.gateway_port:
            raise BenchSetupError(
                f"sshgate login's snippet names port {state.gateway_port}, "
                f"the gateway listens on {self.gateway_port}"
            )
        self.snippet_host = state.gateway_host
        self.login_snippet_config.write_text(login_snippet_config_text(self.account.snippet))
        ciphers = option_value(self.account.snippet.read_text(), "Ciphers") or "not set"
        self.notes.append(
            f"Setup {LOGIN_SNIPPET}: the gateway path is `ssh -F FILE -T "
            f"{self.service}@{self.snippet_host} true`, FILE holding only `Include "
            "$SSHGATE_HOME/ssh_config` (written by `sshgate login`) and batch options, so every "
            "connection also runs the snippet's `sshgate cert ensure` hook. That path offers "
            f"OpenSSH's default key exchange and the snippet's Ciphers ({ciphers}); direct and "
            "bastion use client `default`."
        )

    def setup_route(self, variant: str, path: str) -> tuple[Path, str]:
        """The ssh_config and the host that `ssh HOST true` uses for `path` in a setup
        variant; for the login snippet's gateway path, `SERVICE@HOST` as a user types it."""
        if variant != LOGIN_SNIPPET:
            return self.ssh_configs[variant], path
        if path != "gateway":
            return self.ssh_configs["default"], path
        return self.login_snippet_config, f"{self.service}@{self.snippet_host}"

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            login=self.env.login_user,
            env_port=self.env.port,
            bastion_port=self.bastion.port,
            gateway_port=self.gateway_port,
            service=self.service,
        )

    @property
    def files(self) -> ClientFiles:
        return ClientFiles(
            plain_key=self.plain_key,
            user_key=self.user.key,
            user_cert=self.user.cert,
            known_hosts=self.root / "client" / "known_hosts",
        )

    @property
    def gateway_host_key_pub(self) -> Path:
        return self.data / "gateway_host_key.pub"

    def async_targets(self) -> AsyncTargets:
        return AsyncTargets.load(
            self.endpoints,
            self.files,
            self.env.host_key_pub,
            self.bastion.host_key_pub,
            self.gateway_host_key_pub,
        )
