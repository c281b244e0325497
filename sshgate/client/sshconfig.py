"""The OpenSSH config snippet `sshgate login` writes, and the known_hosts pin. Pure."""

from __future__ import annotations

import shlex
from pathlib import Path

# AES-GCM first: the client picks the cipher, and AES-GCM costs the gateway about half the
# CPU per MiB of chacha20-poly1305 (docs/performance.md). chacha20 stays as a fallback.
CIPHERS = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"


def _quote(path: Path | str) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def known_hosts_lines(host: str, port: int, host_keys: list[str]) -> str:
    pattern = host if port == 22 else f"[{host}]:{port}"
    return "".join(f"{pattern} {' '.join(key.split()[:2])}\n" for key in host_keys)


def render_ssh_config(home: Path, host: str, port: int, sshgate_command: list[str]) -> str:
    """A `Match host ... exec` block: OpenSSH runs `sshgate cert ensure` before connecting to
    the gateway (renewing a certificate that is about to expire), then uses the key and the
    certificate from `home`, and the gateway's pinned host key."""
    ensure = " ".join(
        shlex.quote(part) for part in [*sshgate_command, "cert", "ensure", "--home", str(home)]
    )
    ensure = ensure.replace('"', '\\"')
    return f"""# Written by `sshgate login`. Use it from ~/.ssh/config with:
#   Include {home / "ssh_config"}
Match host {host} exec "{ensure}"
  Port {port}
  IdentityFile {_quote(home / "id_ed25519")}
  CertificateFile {_quote(home / "id_ed25519-cert.pub")}
  IdentitiesOnly yes
  Ciphers {CIPHERS}
  UserKnownHostsFile {_quote(home / "known_hosts")}
  StrictHostKeyChecking yes
"""
