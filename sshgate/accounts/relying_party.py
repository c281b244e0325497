"""The WebAuthn relying party sshgate is, and the pure rules of its security keys.

The relying party id is the host of `api.public_url` and the only accepted origin is that
URL's scheme, host and port: a key registered here answers no other site, which is what makes
it phishing-resistant. Browsers refuse an IP address as relying party id, so a public URL
with one has no relying party; `http://localhost` counts as a secure context (demo, tests).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from sshgate.accounts.errors import KeysUnavailable

__all__ = [
    "MAX_KEY_NAME",
    "RelyingParty",
    "counter_moves_forward",
    "key_name",
    "relying_party",
]

MAX_KEY_NAME = 64
DEFAULT_KEY_NAME = "Security key"
IP_ADDRESS = (
    "security keys and passkeys need api.public_url to name a host: browsers refuse an IP"
    " address ({host}) as relying party id; the authenticator app keeps working"
)
NO_URL = "security keys and passkeys need api.public_url (an http(s) URL naming a host)"


@dataclass(frozen=True)
class RelyingParty:
    id: str  # the host of api.public_url
    origin: str  # scheme://host[:port], exactly as browsers send it
    name: str = "sshgate"


def relying_party(public_url: str) -> RelyingParty:
    """The relying party of `public_url`; KeysUnavailable, saying why, when it has none."""
    parts = urlsplit(public_url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise KeysUnavailable(NO_URL)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise KeysUnavailable(IP_ADDRESS.format(host=host))
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = parts.port
    origin = f"{parts.scheme}://{host}" + ("" if port in (None, default_port) else f":{port}")
    return RelyingParty(id=host, origin=origin)


def counter_moves_forward(stored: int, new: int) -> bool:
    """A signature counter must grow; authenticators without one always send 0. Anything
    else is the sign of a cloned key (WebAuthn §6.1.1)."""
    return new > stored or (stored == 0 and new == 0)


def key_name(name: str | None) -> str | None:
    """The name to store for a key ("Security key" when none was given); None when it is
    too long or not printable."""
    name = (name or "").strip() or DEFAULT_KEY_NAME
    if len(name) > MAX_KEY_NAME or not name.isprintable():
        return None
    return name
