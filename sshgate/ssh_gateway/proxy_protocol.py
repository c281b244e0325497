"""PROXY protocol (v2, and v1) on the gateway listener, for gateways behind a TCP load balancer.

With `gateway.proxy_protocol = true`, every connection must come from a peer listed in
`gateway.proxy_protocol_trusted` and start with a PROXY header; the header's source address
then is the client address (audit log, `max_per_source`, `source-address` checks). Anything
else (an untrusted peer, a missing, malformed or slow header) is dropped before a byte of it
reaches SSH. A `LOCAL` (v2) or `UNKNOWN` (v1) header, as a balancer's health check sends,
keeps the balancer's own address.

Two halves, as elsewhere: `parse_header` is pure (bytes in, a `ProxyHeader`, None for "need
more bytes", or `ProxyHeaderError`), and `expect_proxy_header` is the shell that holds an
accepted asyncssh connection's bytes back until the header has been read.

The one reliance on asyncssh internals is here: `SSHConnection._transport`, the asyncio
transport the connection was made with, which is set before the server's `connection_made`
runs. While the header is read, that transport's protocol is a `_HeaderReader`; then the
asyncssh connection gets it back, with whatever followed the header. asyncssh has already
queued its version line by then (a balancer relays it; an untrusted peer is dropped before
it is written). tests/unit/test_proxy_protocol.py fails first when an asyncssh upgrade
moves this.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import asyncssh

from sshgate.logs import log

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX_LENGTH = 107  # the longest v1 line, CRLF included (the specification's bound)
_V2_FIXED = 16  # signature, version and command, family and transport, length
_V2_UNSPEC, _V2_TCP4, _V2_TCP6, _V2_UNIX_STREAM = 0x00, 0x11, 0x21, 0x31
_V2_ADDRESS_BYTES = {_V2_TCP4: 12, _V2_TCP6: 36, _V2_UNIX_STREAM: 216}
_LOCAL, _PROXY = 0x20, 0x21

# Seconds a trusted peer has to send its header: a balancer sends it with the connection.
PROXY_HEADER_TIMEOUT = 5.0

Address = tuple[str, int]


class ProxyHeaderError(ValueError):
    """Raised by `parse_header` when the bytes are not (the start of) a PROXY header; the
    message says what is wrong, without quoting the bytes."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header. `source` is the client's address and port, or None when the header
    carries none (v2 LOCAL or an unspecified or UNIX family, v1 UNKNOWN): then the TCP peer
    (the balancer itself) is the client. `length` is how many bytes the header took."""

    version: int
    source: Address | None
    destination: Address | None
    length: int


def parse_header(data: bytes) -> ProxyHeader | None:
    """The PROXY header at the start of `data`; None while `data` is a valid beginning of one
    that needs more bytes. Raises ProxyHeaderError, and nothing else, for anything else."""
    if not data:
        return None
    if data[:12] == V2_SIGNATURE[: len(data[:12])]:
        return _parse_v2(data)
    if data[:6] == V1_PREFIX[: len(data[:6])]:
        return _parse_v1(data)
    raise ProxyHeaderError("no PROXY protocol header")


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < _V2_FIXED:
        return None
    command, family = data[12], data[13]
    if command not in (_LOCAL, _PROXY):
        raise ProxyHeaderError("PROXY v2: unknown version or command")
    length = _V2_FIXED + int.from_bytes(data[14:16], "big")
    if command == _PROXY:  # LOCAL (a health check): the address block is to be ignored
        if family != _V2_UNSPEC and family not in _V2_ADDRESS_BYTES:
            raise ProxyHeaderError("PROXY v2: unsupported address family or transport")
        if length - _V2_FIXED < _V2_ADDRESS_BYTES.get(family, 0):
            raise ProxyHeaderError("PROXY v2: address block too short")
    if len(data) < length:
        return None
    if command == _LOCAL or family in (_V2_UNSPEC, _V2_UNIX_STREAM):
        return ProxyHeader(2, None, None, length)
    size = 4 if family == _V2_TCP4 else 16
    block = data[_V2_FIXED : _V2_FIXED + 2 * size + 4]
    src = ipaddress.ip_address(block[:size])
    dst = ipaddress.ip_address(block[size : 2 * size])
    src_port = int.from_bytes(block[2 * size : 2 * size + 2], "big")
    dst_port = int.from_bytes(block[2 * size + 2 :], "big")
    return ProxyHeader(2, (str(src), src_port), (str(dst), dst_port), length)


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH or b"\n" in data or b"\r" in data[:-1]:
            raise ProxyHeaderError("PROXY v1: no CRLF within 107 bytes")
        return None
    fields = data[:end].split(b" ")
    if len(fields) >= 2 and fields[1] == b"UNKNOWN":
        return ProxyHeader(1, None, None, end + 2)  # the rest of an UNKNOWN line is ignored
    if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError("PROXY v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT")
    version = 4 if fields[1] == b"TCP4" else 6
    src, dst = (_v1_address(field, version) for field in fields[2:4])
    src_port, dst_port = (_v1_port(field) for field in fields[4:6])
    return ProxyHeader(1, (src, src_port), (dst, dst_port), end + 2)


def _v1_address(field: bytes, version: int) -> str:
    try:
        text = field.decode("ascii")
        address = ipaddress.ip_address(text)
    except (UnicodeDecodeError, ValueError):
        raise ProxyHeaderError("PROXY v1: not an IP address") from None
    if "%" in text:  # a zone id: the specification's addresses have none
        raise ProxyHeaderError("PROXY v1: not an IP address")
    if address.version != version:
        raise ProxyHeaderError("PROXY v1: address does not match the protocol")
    return str(address)


def _v1_port(field: bytes) -> int:
    if not field.isdigit() or len(field) > 5 or (len(field) > 1 and field[:1] == b"0"):
        raise ProxyHeaderError("PROXY v1: not a port number")
    port = int(field)
    if port > 65535:
        raise ProxyHeaderError("PROXY v1: not a port number")
    return port


# --- the shell ------------------------------------------------------------------------------


def plain_address(address: str) -> str:
    """`address` as the audit log, the limits and `source-address` checks want it: an IPv4
    client seen on a dual-stack socket (`::ffff:192.0.2.1`) is 192.0.2.1, and an IPv6 zone
    id (`fe80::1%eth0`, the interface a link-local peer came in on) is dropped: it is not
    part of the client's address, and it would make one client several sources."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip.scope_id is not None:
            return str(ipaddress.IPv6Address(ip.packed))
    return str(ip)


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def is_trusted(peer: str, cidrs: Iterable[str]) -> bool:
    """Whether `peer` (the TCP peer's address) lies in one of `cidrs`
    (`gateway.proxy_protocol_trusted`, validated when the configuration was loaded)."""
    try:
        ip = ipaddress.ip_address(plain_address(peer))
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(cidrs)))


ClientFound = Callable[[str], None]


def expect_proxy_header(
    conn: asyncssh.SSHServerConnection,
    trusted: Iterable[str],
    found: ClientFound,
    timeout: float = PROXY_HEADER_TIMEOUT,
) -> None:
    """Call from the SSHServer's `connection_made`: read the PROXY header before asyncssh sees
    a byte, then call `found(client_address)` and hand the connection back to asyncssh.

    An untrusted peer, a malformed header, or none within `timeout` seconds: the connection
    is dropped (one `connection_closed` log line naming why) and `found` is never called.
    """
    transport: asyncio.Transport | None = conn._transport
    peer = conn.get_extra_info("peername")
    peer_address = plain_address(str(peer[0])) if peer else ""
    if transport is None:
        return
    if not is_trusted(peer_address, trusted):
        _dropped("proxy-untrusted-peer", peer_address)
        transport.abort()  # before asyncssh writes its version line
        return
    transport.set_protocol(_HeaderReader(conn, transport, peer_address, found, timeout))


def _dropped(reason: str, peer: str) -> None:
    log("connection_closed", reason=reason, client=peer)


class _HeaderReader(asyncio.Protocol):
    """The transport's protocol until the header is read; then asyncssh's connection again."""

    def __init__(
        self,
        conn: asyncssh.SSHServerConnection,
        transport: asyncio.Transport,
        peer: str,
        found: ClientFound,
        timeout: float,
    ) -> None:
        self._conn = conn
        self._transport = transport
        self._peer = peer
        self._found = found
        self._buffer = b""
        self._done = False
        self._timer = asyncio.get_running_loop().call_later(timeout, self._fail, "proxy-timeout")

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._buffer += data
        try:
            header = parse_header(self._buffer)
        except ProxyHeaderError as exc:
            log("proxy_header_refused", error=str(exc), client=self._peer)
            self._fail("proxy-header-malformed")
            return
        if header is None:
            return
        self._done = True
        self._timer.cancel()
        rest = self._buffer[header.length :]
        self._buffer = b""
        client = self._peer
        if header.source is not None:
            client = plain_address(header.source[0])
            self._conn.set_extra_info(peername=header.source)
        self._transport.set_protocol(self._conn)
        self._found(client)
        if rest and not self._transport.is_closing():
            self._conn.data_received(rest)

    def eof_received(self) -> bool | None:
        self._fail("proxy-header-missing")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()
        self._done = True
        self._conn.connection_lost(exc)  # asyncssh cleans up, and tells the SSHServer

    def _fail(self, reason: str) -> None:
        if self._done:
            return
        self._done = True
        self._timer.cancel()
        _dropped(reason, self._peer)
        self._transport.abort()


__all__ = [
    "PROXY_HEADER_TIMEOUT",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderError",
    "expect_proxy_header",
    "is_trusted",
    "parse_header",
    "plain_address",
]
