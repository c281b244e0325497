"""The client behind a reverse proxy: `X-Forwarded-For` and `Forwarded` (RFC 7239), believed
only from the peers listed in `api.trusted_proxies`.

Each proxy appends the address it received the request from, so the chain reads, left to
right, client, proxy, proxy, ..., and the TCP peer comes after its last entry. Walking from
the right, every hop that is a trusted proxy is passed over; the first address that is not
is the client (anything left of it was written by the client and proves nothing). A peer
that is not a trusted proxy is the client itself, whatever it sends. An entry that is not
an IP address (`unknown`, an obfuscated name, garbage) ends the walk at the trusted hop that
handed it over: that hop is then the best address known.

Both headers are walked, each on its own. A proxy that writes one of them passes the other
through as the client sent it (nginx's `proxy_add_x_forwarded_for` and HAProxy's `option
forwardfor` append to `X-Forwarded-For` and leave `Forwarded` alone), so neither can be
preferred: when both are present and name different clients, `ConflictingForwarding` is
raised and the request is refused (fail closed). When only one is present, it is used.

Pure: `client_address` takes the peer, the trusted networks and the header values.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["MAX_HOPS", "ConflictingForwarding", "Network", "client_address", "networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Hops read from the right; a longer chain is cut (every header is also bounded in size).
MAX_HOPS = 32


class ConflictingForwarding(ValueError):
    """`Forwarded` and `X-Forwarded-For` from a trusted proxy name different clients."""


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    """The networks of `api.trusted_proxies` (validated when the configuration loads)."""
    return tuple(ipaddress.ip_network(c, strict=True) for c in cidrs)


def client_address(
    peer: str,
    trusted: Sequence[Network],
    forwarded: Sequence[str] = (),
    x_forwarded_for: Sequence[str] = (),
) -> str:
    """The client's address, as text. `forwarded` and `x_forwarded_for` are the values of
    every such header line, in order. ConflictingForwarding when both are present and their
    chains end at different clients."""
    hop = _address(peer)
    if hop is None or not _trusted(hop, trusted):
        return peer
    clients: list[Address] = []
    if forwarded:
        clients.append(_walk(hop, trusted, _forwarded_for(forwarded)))
    if x_forwarded_for:
        clients.append(_walk(hop, trusted, _x_forwarded_for(x_forwarded_for)))
    if len({_plain(client) for client in clients}) > 1:
        raise ConflictingForwarding()
    return str(clients[0]) if clients else str(hop)


def _walk(hop: Address, trusted: Sequence[Network], chain: Sequence[str]) -> Address:
    """From the trusted peer `hop` leftwards along `chain`: the first untrusted address, or
    the last trusted hop when the chain ends or names something that is not an address."""
    for entry in reversed(chain[-MAX_HOPS:]):
        address = _address(entry)
        if address is None:
            break
        hop = address
        if not _trusted(hop, trusted):
            break
    return hop


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    plain = _plain(address)
    return any(plain in network for network in trusted)


def _plain(address: Address) -> Address:
    """`::ffff:192.0.2.1` is `192.0.2.1`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address(text: str) -> Address | None:
    """An address from `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    if "%" in text:
        return None  # a zone id names a link on the proxy's host, not a client
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _x_forwarded_for(values: Sequence[str]) -> list[str]:
    return [part for value in values for part in value.split(",")]


def _forwarded_for(values: Sequence[str]) -> list[str]:
    """The `for=` of each element of `Forwarded: for=192.0.2.60;proto=http, for="[::1]"`; an
    element without one counts as an unknown hop."""
    found: list[str] = []
    for value in values:
        for element in value.split(","):
            node = ""
            for pair in element.split(";"):
                name, _, text = pair.partition("=")
                if name.strip().lower() == "for":
                    node = text
            found.append(node)
    return found
