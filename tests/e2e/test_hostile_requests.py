"""Hostile requests from an authenticated user over real connections: SSH user names the
stock client would not send, git commands that try to escape the pack-command grammar,
environment variables that would run code upstream, and absurd PTY sizes.

Requests stock `ssh` refuses to make are sent with an asyncssh client (its own client-side
checks switched off where they would stop the request before the wire). For every refusal,
nothing reaches the environment: its sshd logs no new login, and the marker file a
successful injection would create does not exist. A control shows each injection would have
worked had it reached the environment.

Port forwards to other hosts are tests/e2e/test_forwarding.py's
test_forward_to_anything_but_the_environment_loopback_is_refused.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from cryptography.hazmat.primitives import serialization

from sshgate.demo.sshd import EnvironmentServer
from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import Client, make_bare_repo
from tests.support.rawclient import try_auth
from tests.vectors import builder

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
NO_ACCESS = "Error: The service doesn't exist or you do not have access to it."
# What a user might smuggle to the environment to run code there: a preloaded library,
# git's own command hooks, and git configuration given through the environment.
HOSTILE_ENV = {
    "LD_PRELOAD": "/nonexistent/sshgate-hostile.so",
    "LD_LIBRARY_PATH": "/nonexistent/sshgate-hostile",
    "GIT_SSH_COMMAND": "sshgate-hostile-ssh",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "core.sshgateHostile",
    "GIT_CONFIG_VALUE_0": "sshgate-hostile",
    "GIT_CONFIG_PARAMETERS": "'core.sshgatehostile'='x'",
    "GIT_CONFIG_GLOBAL": "/nonexistent/sshgate-hostile-gitconfig",
    "GIT_EXEC_PATH": "/nonexistent/sshgate-hostile-exec",
    "BASH_ENV": "/nonexistent/sshgate-hostile-bashenv",
}


@dataclass
class Site:
    d: Deployment
    # An environment whose sshd accepts every variable (AcceptEnv *): whatever the gateway
    # passes on arrives, so what is missing there was filtered by the gateway.
    open_env: EnvironmentServer
    open_env_service: str
    # A project whose repository lives on that environment.
    open_env_project: str
    open_env_repo: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("hostile")
    # Also trusting the test vectors' CA, so that hostile certificates can be built here.
    d = start_deployment(root, {"SSHGATE_CA_TRUSTED_PUBLIC_KEYS": str(VECTORS / "trusted_ca.pub")})
    env = EnvironmentServer(
        root / "open-env",
        trusted_user_ca=root / "data" / "upstream_ca.pub",
        extra_config="AcceptEnv *\n",
    )
    try:
        env.start()
        host_key = str(env.host_key_pub)
        service = str(
            d.admin(
                "env",
                "add",
                d.project,
                "openenv",
                "--upstream",
                env.upstream,
                "--host-key-file",
                host_key,
            )["service"]
        )
        repo = root / "repos" / "open-env.git"
        make_bare_repo(repo)
        project = str(
            d.admin(
                "project",
                "add",
                "acme",
                "--title",
                "Hooks",
                "--git-upstream",
                f"{env.upstream}:{repo}",
                "--host-key-file",
                host_key,
            )["id"]
        )
        d.admin("project", "grant", project, "alice", "--role", "viewer")
        yield Site(d, env, service, project, repo)
    finally:
        env.stop()
        d.server.stop()
        d.env.stop()


@pytest.fixture(scope="module")
def alice(site: Site) -> Client:
    site.d.enable_mfa("alice")
    client = site.d.client("alice")
    site.d.issue(client, "alice", ("pwd", "mfa"))
    return client


@dataclass(frozen=True)
class Outcome:
    exit_status: int | None
    stdout: bytes
    stderr: bytes


@asynccontextmanager
async def connect(
    d: Deployment, client: Client, username: str
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An asyncssh connection to the gateway with `client`'s key and certificate."""
    key = asyncssh.read_private_key(str(client.key))
    cert = asyncssh.read_certificate(str(client.cert))
    host_key = asyncssh.import_public_key(d.gateway_host_key())
    conn = await asyncio.wait_for(
        asyncssh.connect(
            "127.0.0.1",
            d.gateway_port,
            username=username,
            client_keys=[(key, cert)],
            known_hosts=([host_key], [], []),
            config=[],
            agent_path=None,
            preferred_auth="publickey",
        ),
        60,
    )
    try:
        yield conn
    finally:
        conn.close()
        await conn.wait_closed()


def run(
    d: Deployment, client: Client, username: str, command: str, stdin: bytes = b"", **kw: object
) -> Outcome:
    async def go() -> Outcome:
        async with connect(d, client, username) as conn:
            result = await asyncio.wait_for(
                conn.run(command, input=stdin, encoding=None, **kw),  # type: ignore[arg-type]
                60,
            )
        return Outcome(result.exit_status, as_bytes(result.stdout), as_bytes(result.stderr))

    return asyncio.run(go())


def as_bytes(data: bytes | str | None) -> bytes:
    return data.encode() if isinstance(data, str) else (data or b"")


def upstream_activity(env: EnvironmentServer) -> int:
    """Logins and sessions the environment's sshd has logged. The gateway may reuse an
    upstream connection, so a session that reached the environment shows up as a session
    even when no new login was needed."""
    log = env.log()
    return log.count("Accepted publickey") + log.count("Starting session:")


def no_access(d: Deployment, shown: str) -> bytes:
    return f"{NO_ACCESS}\nService: {shown}\nUser: alice ({d.users['alice']})\n".encode()


# --- SSH user names -----------------------------------------------------------------------


HOSTILE_NAMES = {
    # name -> how the Service line shows it (escaped, cut at 128)
    "at-sign": ("{pid}@gw", "{pid}@gw"),
    "colon": ("{pid}:{other}.git", "{pid}:{other}.git"),
    "hash": ("{pid}#{other}", "{pid}#{other}"),
    "plus": ("{pid}+{other}", "{pid}+{other}"),
    "slash-dotdot": ("{pid}/../{other}", "{pid}/../{other}"),
    "dotdot": ("../../root", "../../root"),
    "service-dotdot": ("{service}/..", "{service}/.."),
    "git-suffix": ("{pid}.git", "{pid}.git"),
    "shell": ("$(touch {marker})", "$(touch {marker})"),
    "non-ascii": ("{pid}\u00e9", "{pid}\\xe9"),
    "another-orgs-service": ("{other_service}", "{other_service}"),
    "long-999": ("x" * 999, "x" * 128),
}


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_user_name_gets_the_no_access_message_and_nothing_reaches_upstream(
    site: Site, alice: Client, tmp_path: Path, name: str, shown: str
) -> None:
    d = site.d
    marker = tmp_path / "injected"
    values = {
        "pid": d.project,
        "other": d.open_project,
        "service": d.service,
        "other_service": d.open_service,
        "marker": marker,
    }
    requested, expected = name.format(**values), shown.format(**values)
    before = upstream_activity(d.env) + upstream_activity(site.open_env)
    result = run(d, alice, requested, f"touch {marker}")
    assert result.exit_status == 1
    assert result.stdout == b""
    assert result.stderr == no_access(d, expected)
    assert upstream_activity(d.env) + upstream_activity(site.open_env) == before
    assert not marker.exists()


def test_a_project_of_another_org_is_no_access_on_the_git_route(site: Site, alice: Client) -> None:
    d = site.d
    before = upstream_activity(d.env)
    result = run(d, alice, d.open_project, f"git-upload-pack '{d.open_project}.git'")
    assert result.exit_status == 1
    assert result.stderr == no_access(d, d.open_project)
    assert upstream_activity(d.env) == before


@pytest.mark.parametrize(
    "name",
    ["a\x1b[31mred", "line\nbreak", "nul\x00byte", "del\x7f", "rlo\u202egnp.exe", "x" * 1024],
    ids=["escape", "newline", "nul", "del", "bidi-override", "long-1024"],
)
def test_user_name_with_control_characters_or_too_long_is_refused_before_authentication(
    site: Site, alice: Client, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # asyncssh's client refuses to send such names (SASLprep); switch that off here, in
    # the test's client only, so that the gateway is what refuses them.
    monkeypatch.setattr(asyncssh.connection, "saslprep", lambda s: s)
    d = site.d
    before = upstream_activity(d.env)
    with pytest.raises(asyncssh.DisconnectError) as refused:
        run(d, alice, name, "true")
    assert refused.value.code == asyncssh.DISC_ILLEGAL_USER_NAME
    assert upstream_activity(d.env) == before
    monkeypatch.undo()
    # The gateway goes on serving.
    assert run(d, alice, d.service, "echo still-serving").stdout == b"still-serving\n"


@pytest.mark.parametrize(
    ("principals", "accepted", "serial"),
    [
        (("alice",), True, 7_000_001),
        (("alice,bob",), False, 7_000_002),
        (("alice,alice",), False, 7_000_003),
        (("bob,alice",), False, 7_000_004),
    ],
    ids=["control", "comma", "comma-same-name", "comma-second"],
)
def test_a_principal_with_a_comma_is_refused_by_the_principals_rule(
    site: Site, principals: tuple[str, ...], accepted: bool, serial: int
) -> None:
    """Principal lists are comma-separated in OpenSSH (`ssh-keygen -n`, `principals=` in
    authorized_keys): one principal holding a comma must not pass for the user's name."""
    d = site.d
    alice_id = d.users["alice"]
    now = int(time.time())
    claims = builder.claims_json(sub=alice_id, mfa=True, auth_time=now)
    spec = builder.good_spec(
        serial=serial,
        key_id=alice_id,
        principals=principals,
        valid_after=now - 60,
        valid_before=now + 600,
        extensions=builder.standard_extensions(claims, True),
    )
    blob = builder.build(spec, builder.trusted_ca_key())
    key = asyncssh.import_private_key(
        builder.user_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    assert asyncio.run(try_auth("127.0.0.1", d.gateway_port, d.service, key, blob)) is accepted
    if not accepted:
        records = d.admin("audit", "--since", "10m")["items"]
        assert isinstance(records, list)
        assert [r["reason"] for r in records if r["kind"] == "auth" and r["serial"] == serial] == [
            "principals"
        ]


# --- git commands ---------------------------------------------------------------------------


HOSTILE_GIT_COMMANDS = {
    "extra-argument": "git-upload-pack '{pid}.git' '{other}.git'",
    "comment": "git-upload-pack '{pid}.git' # x",
    "upload-pack-option": "git-upload-pack --upload-pack='touch {marker}' '{pid}.git'",
    "option-as-repository": "git-upload-pack '--upload-pack=touch {marker}'",
    "git-c-option": "git -c core.sshCommand='touch {marker}' upload-pack '{pid}.git'",
    "git-dir-option": "git --git-dir={repo} upload-pack '{pid}.git'",
    "env-assignment": "GIT_DIR={repo} git-upload-pack '{pid}.git'",
    "dotdot": "git-upload-pack '../{other}.git'",
    "dotdot-inside": "git-upload-pack '{pid}.git/../{other}.git'",
    "absolute-path-of-a-real-repository": "git-upload-pack '{repo}'",
    "another-project": "git-receive-pack '/{other}.git'",
    "another-project-bare": "git upload-pack {other}",
    "quote-break-out": "git-upload-pack '{pid}.git'\\'' {other}.git'",
    "unbalanced-quote": 'git-upload-pack "{pid}.git',
    "escaped-space": "git-upload-pack {pid}.git\\ x",
    "semicolon": "git-upload-pack '{pid}.git'; touch {marker}",
    "semicolon-quoted": "git-upload-pack '{pid}.git; touch {marker}'",
    "and-and": "git-upload-pack '{pid}.git' && touch {marker}",
    "pipe": "git-upload-pack '{pid}.git' | touch {marker}",
    "command-substitution": 'git-upload-pack "$(touch {marker})"',
    "backticks": "git-upload-pack `touch {marker}`",
    "newline": "git-upload-pack '{pid}.git'\ntouch {marker}",
    "nul-byte": "git-upload-pack '{pid}.git\x00'; touch {marker}",
    "too-long": "git-upload-pack '{pid}.git' " + "x" * 30_000,
    "lfs": "git-lfs-authenticate {pid} download",
    "shell": "sh -c 'touch {marker}'",
}


@pytest.mark.parametrize("command", HOSTILE_GIT_COMMANDS.values(), ids=HOSTILE_GIT_COMMANDS.keys())
def test_hostile_git_command_exits_128_with_one_line_and_nothing_reaches_upstream(
    site: Site, alice: Client, tmp_path: Path, command: str
) -> None:
    d = site.d
    marker = tmp_path / "injected"
    text = command.format(pid=d.project, other=d.open_project, repo=d.repo, marker=marker)
    before = upstream_activity(d.env)
    result = run(d, alice, d.project, text)
    assert result.exit_status == 128
    assert result.stdout == b""
    assert result.stderr.startswith(b"sshgate: refused git command: ")
    assert result.stderr.count(b"\n") == 1 and result.stderr.endswith(b"\n")
    assert upstream_activity(d.env) == before
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        "git-upload-pack '{pid}.git'",
        'git upload-pack "/{pid}"',
        "git-upload-pack '{pid}''.git'",  # quotes that only re-spell the project's name
        "git-upload-pack {pid}",
    ],
)
def test_control_accepted_spellings_reach_the_projects_own_repository(
    site: Site, alice: Client, command: str
) -> None:
    d = site.d
    before = upstream_activity(d.env)
    # A flush packet: upload-pack advertises its refs, the client wants nothing, it exits 0.
    result = run(d, alice, d.project, command.format(pid=d.project), stdin=b"0000")
    assert result.exit_status == 0, result.stderr
    assert b"refs/heads/main" in result.stdout
    assert upstream_activity(d.env) > before


def test_a_one_mebibyte_command_is_refused_by_the_protocol_and_the_gateway_goes_on(
    site: Site, alice: Client
) -> None:
    d = site.d
    before = upstream_activity(d.env)
    with pytest.raises(asyncssh.ProtocolError) as refused:
        run(d, alice, d.project, f"git-upload-pack '{'x' * (1 << 20)}'")
    # The gateway closed the connection: the packet is larger than it accepts at all.
    assert "packet size" in refused.value.reason
    assert upstream_activity(d.env) == before
    assert run(d, alice, d.service, "echo still-serving").stdout == b"still-serving\n"


# --- environment variables ------------------------------------------------------------------


def upstream_control_identity(site: Site, tmp_path: Path) -> tuple[Path, Path]:
    """A key and a certificate signed by the upstream CA: what the gateway itself logs in
    with, used here to show what the environment accepts from a client that is not
    filtered."""
    ca = asyncssh.read_private_key(str(site.d.root / "data" / "upstream_ca.key"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key,
        "control",
        principals=[site.open_env.login_user],
        valid_after=now - 60,
        valid_before=now + 600,
    )
    key_path, cert_path = tmp_path / "control", tmp_path / "control-cert.pub"
    key.write_private_key(str(key_path))
    os.chmod(key_path, 0o600)
    cert.write_certificate(str(cert_path))
    return key_path, cert_path


def test_dangerous_environment_variables_never_reach_the_environment(
    site: Site, alice: Client, tmp_path: Path
) -> None:
    d = site.d
    sent = {**HOSTILE_ENV, "LANG": "C.UTF-8", "GIT_PROTOCOL": "version=2"}
    result = run(d, alice, site.open_env_service, "env", env=sent)
    assert result.exit_status == 0, result.stderr
    seen = dict(line.split("=", 1) for line in result.stdout.decode().splitlines() if "=" in line)
    assert seen.get("LANG") == "C.UTF-8" and seen.get("GIT_PROTOCOL") == "version=2"
    assert not set(HOSTILE_ENV) & set(seen), seen
    assert "sshgate-hostile" not in result.stdout.decode()

    # Control: the environment's sshd itself takes every one of them.
    key, cert = upstream_control_identity(site, tmp_path)

    async def direct() -> bytes:
        async with asyncssh.connect(
            site.open_env.host,
            site.open_env.port,
            username=site.open_env.login_user,
            client_keys=[(str(key), str(cert))],
            known_hosts=None,
            config=[],
            agent_path=None,
        ) as conn:
            out = await conn.run("env", env=sent, encoding=None)
            return as_bytes(out.stdout)

    direct_env = asyncio.run(direct()).decode()
    assert all(f"{name}=" in direct_env for name in HOSTILE_ENV), direct_env


def test_git_configuration_through_the_environment_cannot_run_a_hook_upstream(
    site: Site, alice: Client, tmp_path: Path
) -> None:
    """uploadpack.packObjectsHook given as GIT_CONFIG_* would run a command on the
    repository's host for anyone who may only pull."""
    marker = tmp_path / "hook-ran"
    hook = tmp_path / "hook"
    hook.write_text(f'#!/bin/sh\ntouch {marker}\nexec "$@"\n')
    hook.chmod(0o755)
    hostile = (
        "SetEnv=GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=uploadpack.packObjectsHook "
        f"GIT_CONFIG_VALUE_0={hook}"
    )
    project = site.open_env_project
    through_gateway = subprocess.run(
        ["git", "clone", "-q", f"{project}@gw:{project}.git", str(tmp_path / "clone")],
        env={**alice.git_env(), "GIT_SSH_COMMAND": f"ssh -F {alice.config} -o '{hostile}'"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert through_gateway.returncode == 0, through_gateway.stderr
    assert (tmp_path / "clone" / "README").read_text() == "seed\n"
    assert not marker.exists()

    # Control: straight to the environment with the same variables, the hook runs.
    key, cert = upstream_control_identity(site, tmp_path)
    ssh = (
        f"ssh -i {key} -o CertificateFile={cert} -o IdentitiesOnly=yes -o IdentityAgent=none"
        " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
        f" -p {site.open_env.port} -o '{hostile}'"
    )
    direct = subprocess.run(
        [
            "git",
            "clone",
            "-q",
            f"{site.open_env.login_user}@{site.open_env.host}:{site.open_env_repo}",
            str(tmp_path / "direct"),
        ],
        env={**os.environ, "GIT_SSH_COMMAND": ssh, "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert direct.returncode == 0, direct.stderr
    assert marker.exists()


# --- PTY sizes ------------------------------------------------------------------------------


def test_absurd_pty_sizes_are_clamped_and_the_session_works(site: Site, alice: Client) -> None:
    d = site.d
    huge = 100_000
    max_u32 = 2**32 - 1

    async def session() -> tuple[str, str, int | None]:
        async with connect(d, alice, d.service) as conn:
            process = await conn.create_process(
                term_type="xterm", term_size=(huge, huge, huge, huge)
            )
            process.stdin.write("stty size; echo first-$((6*7))\n")
            first = await asyncio.wait_for(process.stdout.readuntil("first-42"), 60)
            process.change_terminal_size(max_u32, max_u32, max_u32, max_u32)
            process.stdin.write("stty size; echo second-$((6*7)); exit 3\n")
            output = await asyncio.wait_for(process.stdout.read(), 60)
            await asyncio.wait_for(process.wait_closed(), 60)
            return first, output, process.exit_status

    at_start, after_change, status = asyncio.run(session())
    assert status == 3
    assert "10000 10000" in at_start, at_start
    # The environment saw the gateway's ceiling (10000), not the client's numbers cut to
    # 16 bits (100000 would show as 34464) or a zero size.
    assert "10000 10000" in after_change and "second-42" in after_change, after_change
