"""The OpenSSH config snippet `sshgate login` writes, and the known_hosts pin. Pure.

Nothing in them comes from a server unchecked (`gateway_pin`): the gateway's host and port
must be a plain host name or IP literal and a port number (sshgate.public_address), its
host keys a key type and base64. The paths in them (`SSHGATE_HOME`, the Python interpreter)
must be ones OpenSSH reads back as they are (`check_config_path`).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from sshgate.public_address import PublicAddressError, check_public_host, check_public_port

# AES-GCM first: the client picks the cipher, and AES-GCM costs the gateway about half the
# CPU per MiB of chacha20-poly1305 (docs/performance.md). chacha20 stays as a fallback.
CIPHERS = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"


class SSHConfigError(ValueError):
    """Raised when something `sshgate login` would write into ssh_config or known_hosts is
    not safe there; the message is the one line the user sees."""


# Characters OpenSSH gives a meaning inside an ssh_config value or a `Match exec` command:
# quotes and the backslash (argument splitting), `%` (tokens), `$` (environment variables,
# `${HOME}`), `#` (comments). Spaces are fine: such paths are written in double quotes.
_CONFIG_PATH_FORBIDDEN = frozenset("\"'\\%$#")
_KEY_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]{0,63}\Z", re.ASCII)


def check_config_path(what: str, path: Path | str) -> str:
    """`path` as text, if OpenSSH reads it back unchanged from ssh_config; else
    SSHConfigError naming `what` (e.g. SSHGATE_HOME) and the character at fault."""
    text = str(path)
    for char in text:
        misread = char != " " and (char.isspace() or not char.isprintable())
        if misread or char in _CONFIG_PATH_FORBIDDEN:
            raise SSHConfigError(
                f"{what} {text!r} cannot be written to ssh_config: OpenSSH would read"
                f" {char!r} in it differently; use a path without it"
            )
    return text


@dataclass(frozen=True)
class GatewayPin:
    """The gateway as `GET /api/ssh/authority` described it, checked."""

    host: str
    port: int
    host_keys: tuple[str, ...]


def gateway_pin(host: object, port: object, host_keys: object) -> GatewayPin:
    """Check what the API said about the gateway before any of it is written anywhere."""
    try:
        checked_host = check_public_host(host)
        checked_port = check_public_port(port)
    except PublicAddressError as exc:
        raise SSHConfigError(f"refusing the gateway address the API sent: {exc}") from None
    if not isinstance(host_keys, list) or not host_keys:
        raise SSHConfigError("the API knows no gateway host key yet; is a gateway running?")
    return GatewayPin(checked_host, checked_port, tuple(_host_key(k) for k in host_keys))


def _host_key(value: object) -> str:
    """`TYPE BASE64` of a one-line host key (a comment after them is dropped)."""
    parts = value.split() if isinstance(value, str) and value.isprintable() else []
    if len(parts) >= 2 and _KEY_TYPE.match(parts[0]):
        try:
            base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            pass
        else:
            return f"{parts[0]} {parts[1]}"
    raise SSHConfigError("refusing a gateway host key the API sent: not TYPE BASE64")


def _quote(path: Path | str) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def known_hosts_lines(pin: GatewayPin) -> str:
    pin = gateway_pin(pin.host, pin.port, list(pin.host_keys))  # whoever built it
    pattern = pin.host if pin.port == 22 else f"[{pin.host}]:{pin.port}"
    return "".join(f"{pattern} {key}\n" for key in pin.host_keys)


def render_ssh_config(home: Path, pin: GatewayPin, sshgate_command: list[str]) -> str:
    """A `Match host ... exec` block: OpenSSH runs `sshgate cert ensure` before connecting to
    the gateway (renewing a certificate that is about to expire), then uses the key and the
    certificate from `home`, and the gateway's pinned host key.

    Raises SSHConfigError when `home` or the command is a path OpenSSH would misread."""
    check_config_path("SSHGATE_HOME", home)
    for part in sshgate_command:
        check_config_path("the sshgate command", part)
    pin = gateway_pin(pin.host, pin.port, list(pin.host_keys))  # whoever built it
    ensure = " ".join(
        shlex.quote(part) for part in [*sshgate_command, "cert", "ensure", "--home", str(home)]
    )
    ensure = ensure.replace('"', '\\"')
    return f"""# Written by `sshgate login`. Use it from ~/.ssh/config with:
#   Include {home / "ssh_config"}
Match host {pin.host} exec "{ensure}"
  Port {pin.port}
  IdentityFile {_quote(home / "id_ed25519")}
  CertificateFile {_quote(home / "id_ed25519-cert.pub")}
  IdentitiesOnly yes
  Ciphers {CIPHERS}
  UserKnownHostsFile {_quote(home / "known_hosts")}
  StrictHostKeyChecking yes
"""


def includes_snippet(user_config: str, snippet: Path, user_home: Path) -> bool:
    """Whether the text of `~/.ssh/config` already has an `Include` line naming `snippet`
    (OpenSSH's rules: keyword case-insensitive, `Include PATH` or `Include=PATH`, several
    paths a line, `~` for the home folder, relative paths relative to ~/.ssh). Pure."""
    wanted = _normal(snippet, user_home)
    for raw in user_config.splitlines():
        line = raw.strip()
        keyword, _, rest = line.replace("=", " ", 1).partition(" ")
        if keyword.lower() != "include":
            continue
        try:
            paths = shlex.split(rest, comments=True)
        except ValueError:
            continue
        if any(_normal(Path(path), user_home) == wanted for path in paths):
            return True
    return False


def _normal(path: Path, user_home: Path) -> Path:
    text = str(path)
    if text == "~" or text.startswith("~/"):
        path = user_home / text[2:]
    elif not path.is_absolute():
        path = user_home / ".ssh" / path
    return Path(os.path.normpath(path))
