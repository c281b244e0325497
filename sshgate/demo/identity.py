"""An OpenSSH client identity for one user: key pair, certificate file, and an ssh_config
that pins the gateway's host key. Used by `sshgate demo`, the tests and the benchmark."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


class ClientIdentity:
    def __init__(
        self, home: Path, gateway_host: str, gateway_port: int, gateway_host_key: str
    ) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        self.key = home / "id_ed25519"
        if not self.key.exists():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    home.name,
                    "-f",
                    str(self.key),
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        self.cert = Path(f"{self.key}-cert.pub")
        self.known_hosts = home / "known_hosts"
        host_pattern = gateway_host if gateway_port == 22 else f"[{gateway_host}]:{gateway_port}"
        self.known_hosts.write_text(f"{host_pattern} {gateway_host_key}\n")
        self.config = home / "ssh_config"
        self.config.write_text(
            f"""Host gw
  HostName {gateway_host}
  Port {gateway_port}
  IdentityFile {self.key}
  CertificateFile {self.cert}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {self.known_hosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 20
"""
        )

    @property
    def public_key(self) -> str:
        return Path(f"{self.key}.pub").read_text().strip()

    def write_certificate(self, certificate: str) -> None:
        self.cert.write_text(certificate.strip() + "\n")

    def ssh_command(self, service: str, *command: str, tty: bool = False) -> list[str]:
        return ["ssh", "-F", str(self.config), "-tt" if tty else "-T", f"{service}@gw", *command]

    def git_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            **(os.environ if base is None else base),
            "GIT_SSH_COMMAND": f"ssh -F {self.config}",
            "GIT_TERMINAL_PROMPT": "0",
        }
