"""The private subclasses of uvicorn's server and h11 protocol (sshgate.api._connections):
the internals they rely on are still there, the refusal rules, and the server itself over
TLS on a loopback socket (counted from the accept, graceful stop)."""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from sshgate.api._connections import FD_RESERVE, LimitedH11Protocol, LimitedServer, refusal, reserve
from tests.support.tls import self_signed

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@pytest.mark.parametrize(
    "name", ["connection_made", "connection_lost", "data_received", "on_response_complete"]
)
def test_uvicorn_h11_protocol_still_has_the_hooks_the_patch_overrides(name: str) -> None:
    assert callable(getattr(H11Protocol, name))


def test_uvicorn_h11_protocol_still_keeps_the_state_the_patch_reads() -> None:
    source = inspect.getsource(H11Protocol)
    for attribute in ("self.conn", "self.transport", "self.loop"):
        assert attribute in source, attribute
    # a connection is in the server's set from connection_made to connection_lost
    assert "self.connections.add(self)" in inspect.getsource(H11Protocol.connection_made)
    assert "self.connections.discard(self)" in inspect.getsource(H11Protocol.connection_lost)
    assert h11.IDLE  # their_state before a complete request head


def test_uvicorn_h11_protocol_is_still_built_as_its_server_builds_it() -> None:
    parameters = inspect.signature(H11Protocol.__init__).parameters
    assert list(parameters)[1:] == ["config", "server_state", "app_state", "_loop"]


def test_uvicorn_server_still_has_the_steps_the_subclass_overrides() -> None:
    for name in ("startup", "shutdown", "capture_signals"):
        assert callable(getattr(uvicorn.Server, name)), name
    assert "sockets" in inspect.signature(uvicorn.Server.startup).parameters
    assert "self.lifespan" in inspect.getsource(uvicorn.Server)
    assert "server_state.connections" in inspect.getsource(uvicorn.Server.shutdown)


def test_the_limited_protocol_is_a_uvicorn_h11_protocol() -> None:
    assert issubclass(LimitedH11Protocol, H11Protocol)


@pytest.mark.parametrize(
    ("soft_limit", "kept_free"),
    [(64, 16), (512, 128), (1024, FD_RESERVE), (1 << 20, FD_RESERVE)],
)
def test_the_descriptor_reserve(soft_limit: int, kept_free: int) -> None:
    assert reserve(soft_limit) == kept_free


@pytest.mark.parametrize(
    ("open_connections", "max_connections", "free", "soft", "reason"),
    [
        (0, 5, 400, 512, None),
        (4, 5, 400, 512, None),
        (5, 5, 400, 512, "max_connections"),
        (9, 5, 10, 512, "max_connections"),
        (4, 5, 128, 512, None),
        (4, 5, 127, 512, "descriptor_reserve"),
        (4, 5, 0, 512, "descriptor_reserve"),
        (4, 5, None, 512, None),  # free descriptors unknown: only the cap applies
        (4, 1000, 200, 1 << 20, None),
        (4, 1000, 127, 1 << 20, "descriptor_reserve"),
    ],
)
def test_a_connection_is_refused_at_accept_when(
    open_connections: int, max_connections: int, free: int | None, soft: int, reason: str | None
) -> None:
    assert refusal(open_connections, max_connections, free, soft) == reason


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the request's scheme, after `?slow` a moment later."""
    if scope["query_string"] == b"slow":
        await asyncio.sleep(0.5)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["scheme"].encode()})


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[LimitedServer, int]]:
    cert_file, key_file = self_signed(tmp_path)
    config = uvicorn.Config(
        _app,
        http="h11",
        lifespan="off",
        log_config=None,
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
    )
    config.load()
    sock = socket.create_server(("127.0.0.1", 0))
    server = LimitedServer(config, sock, max_connections=2)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield server, int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task


async def _wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_connection_counts_from_its_accept_and_ends_with_its_failed_handshake(
    tls_server: tuple[LimitedServer, int],
) -> None:
    server, port = tls_server
    assert server.servers == []  # uvicorn listens nowhere of its own
    connections = server.server_state.connections
    _, silent = await asyncio.open_connection("127.0.0.1", port)  # no ClientHello
    await _wait_for(lambda: len(connections) == 1)
    silent.write(b"not a TLS record\r\n\r\n")
    await _wait_for(lambda: len(connections) == 0)
    silent.close()


async def test_a_connection_beyond_the_cap_is_closed_while_the_others_are_in_their_handshake(
    tls_server: tuple[LimitedServer, int],
) -> None:
    server, port = tls_server  # max_connections=2
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    await _wait_for(lambda: len(server.server_state.connections) == 2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    async with asyncio.timeout(2):
        assert await reader.read() == b""  # closed, no handshake answered
    assert len(server.server_state.connections) == 2
    for _, held_writer in [*held, (reader, writer)]:
        held_writer.close()


async def test_https_requests_are_answered_and_a_stop_lets_one_in_flight_finish(
    tls_server: tuple[LimitedServer, int],
) -> None:
    server, port = tls_server
    async with httpx.AsyncClient(verify=False, base_url=f"https://127.0.0.1:{port}") as client:
        assert (await client.get("/")).text == "https"
        slow = asyncio.ensure_future(client.get("/?slow"))
        await asyncio.sleep(0.2)
        server.should_exit = True
        answer = await slow
    assert answer.status_code == 200 and answer.text == "https"


async def test_a_stop_ends_a_handshake_in_progress(tls_server: tuple[LimitedServer, int]) -> None:
    server, port = tls_server
    reader, _ = await asyncio.open_connection("127.0.0.1", port)  # no ClientHello
    await _wait_for(lambda: len(server.server_state.connections) == 1)
    server.should_exit = True
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    await _wait_for(lambda: len(server.server_state.connections) == 0)


def test_a_tls_context_is_what_uvicorn_builds_from_its_files(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    config = uvicorn.Config(_app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file))
    config.load()
    assert isinstance(config.ssl, ssl.SSLContext)
