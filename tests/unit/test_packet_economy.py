"""The gateway's per-connection packet economies (sshgate/ssh_gateway/_packet_economy.py):
what they rely on in asyncssh, that they remove the countermeasure ignore packets only where
they protect nothing, and that bytes arrive intact when reads are handed over in pieces."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncssh
import pytest
from asyncssh.crypto.cipher import GCMCipher
from asyncssh.packet import SSHPacketLogger
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sshgate.ssh_gateway._packet_economy import (
    PACKET_LOG_LEVEL,
    RECEIVE_PIECE,
    economize,
    install_process_economies,
    is_cbc,
)

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


def test_asyncssh_gcm_cipher_and_packet_log_are_what_the_replacements_replace() -> None:
    """The replacements keep these methods' effect; they are only correct while asyncssh's
    own versions still look like this. Read from asyncssh's files, which the replacements
    (installed once per process) do not change."""
    cipher = inspect.getsource(asyncssh.crypto.cipher)
    assert "data = AESGCM(self._key).encrypt(self._iv, data, header)" in cipher
    assert "AESGCM(self._key).decrypt(self._iv, data + mac, header)" in cipher
    assert cipher.count("self._update_iv()") == 2
    assert "return header + data[:-_GCM_MAC_SIZE], data[-_GCM_MAC_SIZE:]" in cipher
    packet = inspect.getsource(asyncssh.packet)
    assert "def _log_packet(self, msg: str, pkttype: int, pktid: Optional[int]," in packet
    assert "self.logger.packet(pktid, packet," in packet
    log = inspect.getsource(asyncssh.logging.SSHLogger.packet)
    assert f"if self._debug_level >= {PACKET_LOG_LEVEL}:" in log


def test_the_gcm_replacement_seals_and_opens_like_aes_gcm_with_a_counting_iv() -> None:
    install_process_economies()
    key, iv = os.urandom(16), bytes(4) + (2**64 - 2).to_bytes(8, "big")  # about to wrap
    sender = GCMCipher("aes128-gcm", key, iv)
    receiver = GCMCipher("aes128-gcm", key, iv)
    header = (1234).to_bytes(4, "big")
    for counter in (2**64 - 2, 2**64 - 1, 0, 1):
        data = os.urandom(1234)
        sealed, tag = sender.encrypt_and_sign(header, data)
        nonce = bytes(4) + counter.to_bytes(8, "big")
        assert sealed + tag == header + AESGCM(key).encrypt(nonce, data, header)
        assert receiver.verify_and_decrypt(header, sealed[4:], tag) == data
    sealed, tag = sender.encrypt_and_sign(header, b"x" * 64)
    forged = bytes([tag[0] ^ 1]) + tag[1:]
    assert receiver.verify_and_decrypt(header, sealed[4:], forged) is None
    # A refused packet still moves the receiver's IV on, as asyncssh's own does.
    sealed, tag = sender.encrypt_and_sign(header, b"next")
    assert receiver.verify_and_decrypt(header, sealed[4:], tag) == b"next"


def test_packets_are_still_logged_at_asyncssh_debug_level_3(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_process_economies()

    class Logged(SSHPacketLogger):
        logger = asyncssh.logging.logger

    before = asyncssh.logging.SSHLogger._debug_level
    try:
        with caplog.at_level(logging.DEBUG, logger="asyncssh"):
            asyncssh.set_debug_level(1)
            Logged().log_sent_packet(94, 7, b"quiet")
            assert not [r for r in caplog.records if "Sent packet" in r.getMessage()]
            asyncssh.set_debug_level(PACKET_LOG_LEVEL)
            Logged().log_sent_packet(94, 8, b"loud")
            logged = [r.getMessage() for r in caplog.records]
            assert [m for m in logged if "pktid=8" in m and "Sent packet type 94" in m]
    finally:
        asyncssh.set_debug_level(before)


@pytest.mark.parametrize(
    ("cipher", "expected"),
    [
        ("aes128-cbc", True),
        ("aes256-cbc", True),
        ("seed-cbc@ssh.com", True),
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
    conn._transport = object()  # type: ignore[assignment]  # connected from here on
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


def test_pieces_stop_once_a_piece_has_ended_the_connection() -> None:
    """asyncssh stops parsing a read at the first fatal error; so do the pieces."""
    seen: list[int] = []

    class Conn:
        _transport: object = object()

        def data_received(self, data: bytes, datatype: object = None) -> None:
            seen.append(len(data))
            self._transport = None  # the first piece was garbage: asyncssh closed

        send_packet = staticmethod(lambda *a, **k: None)

    conn = Conn()
    conn._transport = None  # no transport to hand the connection to while installing
    economize(conn)  # type: ignore[arg-type]
    conn._transport = object()
    conn.data_received(bytes(4 * RECEIVE_PIECE))
    assert seen == [RECEIVE_PIECE]
