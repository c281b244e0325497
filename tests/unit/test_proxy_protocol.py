"""PROXY protocol: the pure header parser (tables and properties), and the shell's hold on an
accepted asyncssh connection (which reaches into asyncssh: these tests fail first when an
upgrade moves what `sshgate/ssh_gateway/proxy_protocol.py` relies on)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncssh
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshgate.ssh_gateway.proxy_protocol import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    expect_proxy_header,
    is_trusted,
    parse_header,
    plain_address,
)
from tests.support.fleet import proxy_v2_header

SIG = V2_SIGNATURE.hex()


V6_1 = "20010db8" + "00" * 11 + "01"  # 2001:db8::1
V6_2 = "20010db8" + "00" * 11 + "02"


def v2(hexes: str) -> bytes:
    return bytes.fromhex(SIG + hexes.replace(" ", ""))


# --- the parser: known answers ---------------------------------------------------------------

VALID = [
    pytest.param(
        # PROXY, TCP over IPv4, 12 bytes: 10.1.2.3:54321 -> 192.0.2.1:22
        v2("21 11 000c 0a010203 c0000201 d431 0016"),
        ProxyHeader(2, ("10.1.2.3", 54321), ("192.0.2.1", 22), 28),
        id="v2-tcp4",
    ),
    pytest.param(
        v2("21 21 0024" + V6_1 + V6_2 + "0400 0016"),
        ProxyHeader(2, ("2001:db8::1", 1024), ("2001:db8::2", 22), 52),
        id="v2-tcp6",
    ),
    pytest.param(
        # with a TLV after the addresses (type 0x04 NOOP, 3 bytes): skipped, counted
        v2("21 11 0012 0a010203 c0000201 d431 0016 04 0003 000000"),
        ProxyHeader(2, ("10.1.2.3", 54321), ("192.0.2.1", 22), 34),
        id="v2-tcp4-with-tlv",
    ),
    pytest.param(v2("20 00 0000"), ProxyHeader(2, None, None, 16), id="v2-local-health-check"),
    pytest.param(
        v2("20 11 000c 0a010203 c0000201 d431 0016"),
        ProxyHeader(2, None, None, 28),
        id="v2-local-ignores-addresses",
    ),
    pytest.param(
        v2("20 12 0000"), ProxyHeader(2, None, None, 16), id="v2-local-ignores-the-family"
    ),
    pytest.param(v2("21 00 0000"), ProxyHeader(2, None, None, 16), id="v2-proxy-unspec"),
    pytest.param(
        v2("21 31 00d8" + "00" * 216), ProxyHeader(2, None, None, 232), id="v2-unix-stream"
    ),
    pytest.param(
        b"PROXY TCP4 10.1.2.3 192.0.2.1 54321 22\r\n",
        ProxyHeader(1, ("10.1.2.3", 54321), ("192.0.2.1", 22), 40),
        id="v1-tcp4",
    ),
    pytest.param(
        b"PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n",
        ProxyHeader(1, ("2001:db8::1", 0), ("2001:db8::2", 65535), 44),
        id="v1-tcp6",
    ),
    pytest.param(b"PROXY UNKNOWN\r\n", ProxyHeader(1, None, None, 15), id="v1-unknown"),
    pytest.param(
        b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n",
        ProxyHeader(1, None, None, 35),
        id="v1-unknown-ignores-the-rest",
    ),
]


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_a_valid_header_is_parsed_and_every_shorter_prefix_asks_for_more(
    data: bytes, expected: ProxyHeader
) -> None:
    assert parse_header(data) == expected
    assert parse_header(data + b"SSH-2.0-OpenSSH_9.6\r\n") == expected
    for end in range(len(data)):
        assert parse_header(data[:end]) is None, end


INVALID = [
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="ssh-without-header"),
    pytest.param(b"GET / HTTP/1.1\r\n", id="http"),
    pytest.param(b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x0c", id="v2-bad-signature"),
    pytest.param(v2("11 11 000c"), id="v2-version-1-in-v2-form"),
    pytest.param(v2("22 11 000c"), id="v2-unknown-command"),
    pytest.param(v2("21 12 000c"), id="v2-udp"),
    pytest.param(v2("21 10 000c"), id="v2-inet-unspec-transport"),
    pytest.param(v2("21 41 000c"), id="v2-unknown-family"),
    pytest.param(v2("21 11 0004 0a010203"), id="v2-tcp4-block-too-short"),
    pytest.param(v2("21 21 000c"), id="v2-tcp6-block-too-short"),
    pytest.param(b"PROXY TCP4 10.1.2.3 192.0.2.1 54321\r\n", id="v1-missing-port"),
    pytest.param(b"PROXY TCP4 10.1.2.3 192.0.2.1 54321 22 9\r\n", id="v1-extra-field"),
    pytest.param(b"PROXY TCP5 10.1.2.3 192.0.2.1 54321 22\r\n", id="v1-unknown-protocol"),
    pytest.param(b"PROXY TCP4 2001:db8::1 192.0.2.1 1 22\r\n", id="v1-v6-address-as-tcp4"),
    pytest.param(b"PROXY TCP6 10.1.2.3 2001:db8::2 1 22\r\n", id="v1-v4-address-as-tcp6"),
    pytest.param(b"PROXY TCP4 10.1.2.300 192.0.2.1 1 22\r\n", id="v1-bad-address"),
    pytest.param(b"PROXY TCP4 010.1.2.3 192.0.2.1 1 22\r\n", id="v1-octal-looking-address"),
    pytest.param(b"PROXY TCP4 10.1.2.3 192.0.2.1 65536 22\r\n", id="v1-port-too-large"),
    pytest.param(b"PROXY TCP4 10.1.2.3 192.0.2.1 022 22\r\n", id="v1-port-leading-zero"),
    pytest.param(b"PROXY TCP4 10.1.2.3 192.0.2.1 -1 22\r\n", id="v1-negative-port"),
    pytest.param(b"PROXY TCP4  10.1.2.3 192.0.2.1 1 22\r\n", id="v1-double-space"),
    pytest.param(b"PROXY TCP4 10.1.2.3 192.0.2.1 1 22\n", id="v1-bare-lf"),
    pytest.param(b"PROXY TCP4 10.1.2.3\r192.0.2.1 1 22", id="v1-bare-cr"),
    pytest.param(b"PROXY " + b"A" * 101, id="v1-longer-than-107-bytes"),
    pytest.param(b"PROXY\r\n", id="v1-no-space"),
    pytest.param(b"PROXY TCP6 fe80::1%eth0 2001:db8::2 1 22\r\n", id="v1-zone-id"),
    pytest.param(b"PROXY TCP6 fe80::1%\x1b[2J 2001:db8::2 1 22\r\n", id="v1-zone-id-control"),
    pytest.param(b"PROXY TCP6 2001:db8::1 fe80::2%x 1 22\r\n", id="v1-destination-zone-id"),
]


@pytest.mark.parametrize("data", INVALID)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_header(data)


def test_the_test_encoder_agrees_with_the_known_answer() -> None:
    assert proxy_v2_header(("10.1.2.3", 54321), ("192.0.2.1", 22)) == VALID[0].values[0]


# --- the parser: properties ------------------------------------------------------------------

garbage = st.binary(max_size=300)


@given(garbage)
def test_random_bytes_never_raise_anything_but_the_parsers_own_error(data: bytes) -> None:
    for candidate in (data, V2_SIGNATURE + data, b"PROXY " + data, b"PROXY TCP4 " + data):
        try:
            result = parse_header(candidate)
        except ProxyHeaderError:
            continue
        assert result is None or 0 < result.length <= len(candidate)


addresses = st.one_of(
    st.ip_addresses(v=4).map(str).map(lambda a: (a, "4")),
    st.ip_addresses(v=6).map(str).map(lambda a: (a, "6")),
)
ports = st.integers(0, 65535)


@given(addresses, addresses, ports, ports, garbage)
def test_any_encoded_v2_header_round_trips_whatever_follows(
    src: tuple[str, str], dst: tuple[str, str], sport: int, dport: int, rest: bytes
) -> None:
    if src[1] != dst[1]:
        dst = (src[0], src[1])
    header = proxy_v2_header((src[0], sport), (dst[0], dport))
    parsed = parse_header(header + rest)
    assert parsed == ProxyHeader(2, (src[0], sport), (dst[0], dport), len(header))


@given(addresses, ports, ports, garbage)
def test_any_v1_line_round_trips_whatever_follows(
    src: tuple[str, str], sport: int, dport: int, rest: bytes
) -> None:
    line = f"PROXY TCP{src[1]} {src[0]} {src[0]} {sport} {dport}\r\n".encode()
    assert parse_header(line + rest) == ProxyHeader(1, (src[0], sport), (src[0], dport), len(line))


# --- trusted peers and addresses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "cidrs", "trusted"),
    [
        ("10.0.0.5", ("10.0.0.0/24",), True),
        ("10.0.1.5", ("10.0.0.0/24",), False),
        ("::ffff:10.0.0.5", ("10.0.0.0/24",), True),  # a dual-stack listener's view
        ("2001:db8::7", ("10.0.0.0/24", "2001:db8::/64"), True),
        ("127.0.0.1", (), False),
        ("", ("0.0.0.0/0",), False),
        ("not-an-address", ("0.0.0.0/0",), False),
    ],
)
def test_only_peers_in_the_trusted_networks_may_send_a_header(
    peer: str, cidrs: tuple[str, ...], trusted: bool
) -> None:
    assert is_trusted(peer, cidrs) is trusted


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("10.1.2.3", "10.1.2.3"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%\x1b]0;owned\x07", "fe80::1"),
        ("FE80::1%3", "fe80::1"),
    ],
)
def test_client_addresses_are_written_plainly_without_a_zone_id(raw: str, plain: str) -> None:
    assert plain_address(raw) == plain


@given(st.text(min_size=1).filter(lambda t: "%" not in t and "/" not in t))
def test_no_zone_id_ever_reaches_the_recorded_address(zone: str) -> None:
    assert plain_address(f"fe80::1%{zone}") == "fe80::1"


# --- the shell on a real asyncssh listener ---------------------------------------------------


def test_asyncssh_sets_its_transport_before_the_server_sees_the_connection() -> None:
    """`expect_proxy_header` takes `conn._transport` in the SSHServer's connection_made, and
    relies on asyncssh writing its version line only after that returns."""
    source = inspect.getsource(asyncssh.connection.SSHConnection.connection_made)
    transport = source.index("self._transport =")
    owner = source.index("self._owner.connection_made(self)")
    version = source.index("self._send_version()")
    assert transport < owner < version


@dataclass
class Seen:
    clients: list[str] = field(default_factory=list)
    peernames: list[str] = field(default_factory=list)
    lost: int = 0
    authenticated: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Listener:
    port: int
    seen: Seen


@pytest.fixture
async def listener(request: pytest.FixtureRequest) -> AsyncIterator[Listener]:
    trusted: tuple[str, ...] = getattr(request, "param", ("127.0.0.0/8",))
    seen = Seen()

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self._conn = conn
            expect_proxy_header(conn, trusted, seen.clients.append, timeout=0.5)

        def connection_lost(self, exc: Exception | None) -> None:
            seen.lost += 1

        def begin_auth(self, username: str) -> bool:
            seen.peernames.append(str(self._conn.get_extra_info("peername")[0]))
            seen.authenticated.set()
            return False  # no authentication needed

    server = await asyncssh.create_server(
        Server, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")]
    )
    try:
        yield Listener(int(server.sockets[0].getsockname()[1]), seen)
    finally:
        server.close()
        await server.wait_closed()


def _connected(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


async def _read_to_eof(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    received = b""
    async with asyncio.timeout(5):
        while chunk := await loop.sock_recv(sock, 4096):
            received += chunk
    return received


async def _until(predicate: object) -> None:
    async with asyncio.timeout(5):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_ssh_runs_after_the_header_and_sees_the_headers_client(listener: Listener) -> None:
    sock = _connected(listener.port)
    header = proxy_v2_header(("10.1.2.3", 54321), ("127.0.0.1", listener.port))
    await asyncio.get_running_loop().sock_sendall(sock, header)
    async with asyncssh.connect(sock=sock, username="anyone", known_hosts=None, config=[]) as conn:
        assert conn.get_extra_info("server_version").startswith("SSH-2.0-")
    assert listener.seen.clients == ["10.1.2.3"]
    assert listener.seen.peernames == ["10.1.2.3"]
    await _until(lambda: listener.seen.lost == 1)


async def test_header_and_ssh_arriving_in_one_segment_both_reach_their_reader(
    listener: Listener,
) -> None:
    sock = _connected(listener.port)
    loop = asyncio.get_running_loop()
    line = b"PROXY TCP4 10.9.8.7 127.0.0.1 1 22\r\nSSH-2.0-test\r\n"
    await loop.sock_sendall(sock, line)
    received = b""
    async with asyncio.timeout(5):
        while b"\r\n" not in received:
            received += await loop.sock_recv(sock, 4096)
    assert received.startswith(b"SSH-2.0-")
    await _until(lambda: listener.seen.clients == ["10.9.8.7"])
    sock.close()
    await _until(lambda: listener.seen.lost == 1)


@pytest.mark.parametrize("listener", [("192.0.2.0/24",)], indirect=True)
async def test_an_untrusted_peer_is_dropped_before_a_single_byte_of_ssh(listener: Listener) -> None:
    sock = _connected(listener.port)
    with contextlib.closing(sock):
        assert await _read_to_eof(sock) == b""  # not even asyncssh's version line
    assert listener.seen.clients == []
    await _until(lambda: listener.seen.lost == 1)


@pytest.mark.parametrize(
    "first", [b"SSH-2.0-OpenSSH_9.6\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", b""], ids=repr
)
async def test_a_missing_or_malformed_header_closes_the_connection(
    listener: Listener, first: bytes
) -> None:
    sock = _connected(listener.port)
    with contextlib.closing(sock):
        if first:
            await asyncio.get_running_loop().sock_sendall(sock, first)
        with contextlib.suppress(ConnectionResetError):
            await _read_to_eof(sock)  # asyncssh's version line at most, then the close
    assert listener.seen.clients == [] and not listener.seen.authenticated.is_set()
    await _until(lambda: listener.seen.lost == 1)
