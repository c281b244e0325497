"""The OpenSSH client side of the benchmark: one ssh_config per cipher choice naming the
three paths, and the known_hosts file that pins every server's host key.

Hosts in the ssh_config:
- `direct`:  the environment's sshd, with the plain benchmark key;
- `bastion`: the same environment through the OpenSSH bastion (`ProxyJump jump`);
- `gateway`: the environment's service through sshgate, with the user's certificate.
Client choices (ciphers, key exchange) are set in the file rather than with `ssh -c`,
because `ProxyJump` passes `-F` to the jump's own ssh but not `-c`: this way both bastion
hops get the same choice.

One more file stands for a user's ~/.ssh/config: only the `Include` of the snippet that
`sshgate login` wrote, whose `Match host ... exec` block runs `sshgate cert ensure` before
every gateway connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PATHS = ("direct", "bastion", "gateway")
LOOPBACK = "127.0.0.1"
# What the client offers on every path, by variant name; "" is OpenSSH's defaults.
# `curve25519` matches the key exchange the gateway's hops negotiate (asyncssh here has no
# sntrup761x25519, OpenSSH 9.2's default), so that setup times compare like with like.
CLIENT_VARIANTS: dict[str, str] = {
    "default": "",
    "aes128-gcm": "Ciphers aes128-gcm@openssh.com",
    "curve25519": "KexAlgorithms curve25519-sha256",
}
# Setup through the snippet `sshgate login` writes: direct and bastion with `default`, the
# gateway as a user reaches it, `cert ensure` hook included (see `login_snippet_config_text`).
LOGIN_SNIPPET = "login-snippet"
SETUP_VARIANTS = ("default", "curve25519", LOGIN_SNIPPET)
BULK_VARIANTS = ("default", "aes128-gcm")
# Never ask, never use an agent or a shared connection, say only what went wrong.
BATCH_OPTIONS = (
    "BatchMode yes",
    "IdentityAgent none",
    "ControlMaster no",
    "ControlPath none",
    "LogLevel ERROR",
)


@dataclass(frozen=True)
class Endpoints:
    """Where the three paths go, and who logs in."""

    login: str
    env_port: int
    bastion_port: int
    gateway_port: int
    service: str


@dataclass(frozen=True)
class ClientFiles:
    """Key material the ssh client uses: the plain key for direct and bastion, the user's
    key and certificate for the gateway."""

    plain_key: Path
    user_key: Path
    user_cert: Path
    known_hosts: Path


def known_hosts_lines(entries: list[tuple[int, Path]]) -> str:
    """`[127.0.0.1]:PORT keytype key` for each (port, host public key file)."""
    lines = []
    for port, pub in entries:
        words = pub.read_text().split()
        lines.append(f"[{LOOPBACK}]:{port} {words[0]} {words[1]}")
    return "\n".join(lines) + "\n"


def ssh_config_text(ends: Endpoints, files: ClientFiles, choice: str) -> str:
    chosen = f"  {choice}\n" if choice else ""
    return f"""\
Host direct
  HostName {LOOPBACK}
  Port {ends.env_port}
  User {ends.login}
  IdentityFile {files.plain_key}

Host jump
  HostName {LOOPBACK}
  Port {ends.bastion_port}
  User {ends.login}
  IdentityFile {files.plain_key}

Host bastion
  HostName {LOOPBACK}
  Port {ends.env_port}
  User {ends.login}
  IdentityFile {files.plain_key}
  ProxyJump jump

Host gateway
  HostName {LOOPBACK}
  Port {ends.gateway_port}
  User {ends.service}
  IdentityFile {files.user_key}
  CertificateFile {files.user_cert}

Host *
{chosen}  IdentitiesOnly yes
  UserKnownHostsFile {files.known_hosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  CheckHostIP no
  ConnectTimeout 20
{_batch_block()}"""


def _batch_block() -> str:
    return "".join(f"  {option}\n" for option in BATCH_OPTIONS)


def login_snippet_config_text(snippet: Path) -> str:
    """A user's ~/.ssh/config holding only the `Include` line `sshgate login` prints, and
    the batch options: port, key, certificate, known_hosts, ciphers and the `cert ensure`
    hook all come from the snippet."""
    return f"Include {snippet}\nHost *\n{_batch_block()}"


def option_value(config_text: str, name: str) -> str:
    """The value of the first `name` line of an ssh_config text, "" when there is none."""
    for line in config_text.splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and words[0].lower() == name.lower():
            return words[1].strip()
    return ""


def write_ssh_configs(directory: Path, ends: Endpoints, files: ClientFiles) -> dict[str, Path]:
    """One ssh_config per client variant, by variant name."""
    configs = {}
    for name, choice in CLIENT_VARIANTS.items():
        path = directory / f"ssh_config.{name}"
        path.write_text(ssh_config_text(ends, files, choice))
        configs[name] = path
    return configs


def git_url(path: str, repo: Path, project: str) -> str:
    """The remote URL of `repo` on `path`: scp form, the project id for the gateway."""
    if path == "gateway":
        return f"{project}@gateway:{project}.git"
    return f"{path}:{repo}"
