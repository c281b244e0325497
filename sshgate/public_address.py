"""The gateway's public address (`gateway.public_host`, `gateway.public_port`): what users
connect to, and what `sshgate login` writes into their `ssh_config` and `known_hosts`.

Pure and standard library only. Both the configuration (when it loads) and the client (on
what `GET /api/ssh/authority` answered, before it writes anything) check with these
functions: a value that reaches an OpenSSH configuration file must be a plain host name or
an IP literal, never text that OpenSSH would read as another directive (a newline), a
second argument (a space, a quote), a pattern (`*`, `?`, `!`, `,`), a comment (`#`) or a
token to expand (`%`, `$`).
"""

from __future__ import annotations

import ipaddress
import re

# RFC 1123 host names: dot-separated labels of letters, digits and hyphens, each 1-63
# characters, neither starting nor ending with a hyphen; at most 253 characters in all.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z", re.ASCII)
MAX_HOST_LENGTH = 253


class PublicAddressError(ValueError):
    """Raised when a gateway host or port is not one OpenSSH can be given as is; the
    message says what was expected, with the value quoted by `repr` (escaped, one line)."""


def check_public_host(value: object) -> str:
    """`value` as a host name or IP literal fit for `ssh_config` and `known_hosts`.

    An IPv6 literal may come bracketed (`[::1]`) and is returned bare; a zone id
    (`fe80::1%eth0`) is refused, since `%` starts a token in `ssh_config`."""
    if not isinstance(value, str):
        raise PublicAddressError(f"expected a host name or IP address, got {type(value).__name__}")
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            address = None
        if address is not None and address.scope_id is None:
            return str(address)
        raise PublicAddressError(f"not a host name or IP address: {value!r}")
    if text != value:  # brackets around anything but an IPv6 literal
        raise PublicAddressError(f"not a host name or IP address: {value!r}")
    if _is_host_name(text):
        return text
    raise PublicAddressError(f"not a host name or IP address: {value!r}")


def _is_host_name(text: str) -> bool:
    # An IPv4 literal is a host name in this grammar too (digits and dots).
    if not text or len(text) > MAX_HOST_LENGTH:
        return False
    return all(_LABEL.match(label) for label in text.split("."))


def check_public_port(value: object) -> int:
    """`value` as a TCP port, 1-65535; an integer, not a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise PublicAddressError(f"expected a port number from 1 to 65535, got {value!r}")
    return value


__all__ = ["PublicAddressError", "check_public_host", "check_public_port"]
