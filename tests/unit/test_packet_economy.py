"""The gateway's per-connection packet economies (sshgate/ssh_gateway/_packet_economy.py):
what they rely on in asyncssh, that they remove the countermeasure ignore packets only where
they protect nothing, and that bytes arrive intact when reads are handed over in pieces."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncssh
import pytest

from sshgate.ssh_gateway._packet_economy import RECEIVE_PIECE, economize, is_cbc

PAYLOAD = os.urandom(3 * 1024 * 1024 + 12345)


def test_asyncssh_still_inserts_the_countermeasure_through_send_packet() -> None:
    source = inspect.getsource(asyncssh.connection.SSHConnection.send_packet)
    assert "self.send_packet(MSG_IGNORE, String(b''))" in source
    params = list(inspect.signature(asyncssh.connection.SSHConnection.send_packet).parameters)
    assert params == ["self", "pkttype", "args", "handler"]
    channel_send = inspect.getsource(asyncssh.channel.SSHChannel.send_packet)
    assert "self._conn.send_packet(" in channel_send


def test_asyncssh_data_received_only_appends_and_parses() -> None:
    source = inspect.getsource(asyncssh.connection.SSHConnection.data_received)
    assert "self._inpbuf += data" in source and "self._recv_data()" in source
    params = list(inspect.signature(asyncssh.connection.SSHConnection.data_received).parameters)
    assert params == ["self", "data", "datatype"]


@pytest.mark.parametrize(
    ("cipher", "expected"),
    [
        ("aes128-cbc", True),
        ("aes256-cbc", True),
        ("aes128-gcm@openssh.com", False),
        ("chacha20-poly1305@openssh.com", False),
        ("aes128-ctr", False),
        (None, False),
    ],
)
def test_is_cbc(cipher: str | None, expected: bool) -> None:
    assert is_cbc(cipher) is expected


@dataclass
class Served:
    port: int
    server_conns: list[asyncssh.SSHServerConnection]


@asynccontextmanager
async def _server(economical: bool, ciphers: tuple[str, ...]) -> AsyncIterator[Served]:
    conns: list[asyncssh.SSHServerConnection] = []

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            conns.append(conn)
            if economical:
                economize(conn)

        def begin_auth(self, username: str) -> bool:
            return False

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        if process.command == "download":
            process.stdout.write(PAYLOAD)
        else:
            received = await process.stdin.read()
            process.stdout.write(hashlib.sha256(received).hexdigest().encode())
        process.exit(0)

    acceptor = await asyncssh.create_server(
        Server,
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        process_factory=handle,
        encoding=None,
        encryption_algs=ciphers,
    )
    try:
        yield Served(acceptor.sockets[0].getsockname()[1], conns)
    finally:
        acceptor.close()
        await acceptor.wait_closed()


async def _connect(port: int, ciphers: tuple[str, ...]) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        "127.0.0.1",
        port,
        username="u",
        known_hosts=None,
        config=[],
        agent_path=None,
        encryption_algs=ciphers,
    )


async def _packets_for_download(economical: bool, ciphers: tuple[str, ...]) -> int:
    """How many packets the client received for one download of PAYLOAD (its sequence
    number afterwards), after checking every byte arrived."""
    async with (
        _server(economical, ciphers) as served,
        await _connect(served.port, ciphers) as client,
    ):
        result = await client.run("download", encoding=None, check=True)
        assert result.stdout == PAYLOAD
        received: int = client._recv_seq
        return received


async def test_no_ignore_packet_per_data_packet_under_aead_ciphers() -> None:
    gcm = ("aes128-gcm@openssh.com",)
    stock = await _packets_for_download(False, gcm)
    lean = await _packets_for_download(True, gcm)
    data_packets = len(PAYLOAD) // 32768
    # asyncssh alone sends an ignore packet ahead of each data packet: about twice as many.
    assert stock >= 2 * data_packets
    assert lean < stock - data_packets + 20


async def test_the_countermeasure_stays_when_the_cipher_is_cbc() -> None:
    cbc = ("aes128-cbc",)
    stock = await _packets_for_download(False, cbc)
    lean = await _packets_for_download(True, cbc)
    assert abs(lean - stock) <= 4


async def test_large_reads_arrive_intact_in_pieces() -> None:
    """The economical side receives an upload in reads far larger than RECEIVE_PIECE."""
    gcm = ("aes128-gcm@openssh.com",)
    async with _server(True, gcm) as served, await _connect(served.port, gcm) as client:
        result = await client.run("upload", input=PAYLOAD, encoding=None, check=True)
    assert result.stdout == hashlib.sha256(PAYLOAD).hexdigest().encode()


def test_one_huge_read_is_handed_over_in_pieces() -> None:
    seen: list[int] = []

    class Conn:
        def data_received(self, data: bytes, datatype: object = None) -> None:
            seen.append(len(data))

        send_packet = staticmethod(lambda *a, **k: None)
        _transport = None

    conn = Conn()
    economize(conn)  # type: ignore[arg-type]
    conn.data_received(bytes(5 * RECEIVE_PIECE + 7))
    assert seen == [RECEIVE_PIECE] * 5 + [7]
    conn.data_received(b"x" * 10)
    assert seen[-1] == 10


def test_under_uvloop_the_transport_hands_reads_to_the_pieces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvloop's transports keep the protocol's bound data_received: economize must hand the
    connection to its transport again, or large reads bypass the pieces (sshgate serve runs
    on uvloop)."""
    uvloop = pytest.importorskip("uvloop")
    sizes: list[int] = []
    stock = asyncssh.connection.SSHConnection.data_received

    def recording(
        self: asyncssh.SSHServerConnection, data: bytes, datatype: int | None = None
    ) -> None:
        if self.is_server():
            sizes.append(len(data))
        stock(self, data, datatype)

    monkeypatch.setattr(asyncssh.connection.SSHConnection, "data_received", recording)

    async def upload() -> bytes:
        gcm = ("aes128-gcm@openssh.com",)
        async with _server(True, gcm) as served, await _connect(served.port, gcm) as client:
            result = await client.run("upload", input=PAYLOAD, encoding=None, check=True)
        return bytes(result.stdout)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        digest = runner.run(upload())
    assert digest == hashlib.sha256(PAYLOAD).hexdigest().encode()
    assert sum(sizes) > len(PAYLOAD)
    assert max(sizes) <= RECEIVE_PIECE
