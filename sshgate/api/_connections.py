"""HTTP connections: our own accept step (a cap on concurrent connections and a reserve of
file descriptors left to the rest of the process, the gateway in `--role all`, both checked
before any TLS work), a deadline for the TLS handshake and one for request headers.

uvicorn's server and its h11 protocol, subclassed in this one private file. It relies on
exactly these internals of uvicorn 0.29-0.55 (pinned by tests/unit/test_api_connections.py):

* `Server.startup(sockets=[])` starts the lifespan and sets `started` without listening
  anywhere (it creates one asyncio server per socket given); `Server.shutdown(sockets)`
  calls `shutdown()` on every protocol in `server_state.connections` and waits for that set
  to empty; `self.lifespan.state` is the app state handed to each protocol; `config.ssl` is
  the `SSLContext` that `Config.load()` built from `ssl_certfile`/`ssl_keyfile`;
* `H11Protocol(config=, server_state=, app_state=, _loop=)` builds a protocol (uvicorn's own
  factory); `connection_made(transport)` adds it to `server_state.connections` (a set) and
  `connection_lost(exc)` discards it;
* `self.conn` is the `h11.Connection`, whose `their_state` is `h11.IDLE` until a complete
  request head has arrived; `on_response_complete()` is called when a response has been
  sent and the connection is kept alive for the next request; `self.transport` is the
  asyncio transport and `self.loop` the event loop.

Left to uvicorn and asyncio, a TLS connection would be handshaken (for up to 60 s) before
the HTTP protocol hears of it, so nothing could count or refuse it, and uvicorn's
`limit_concurrency` answers 503 on a connection it still keeps. Here `LimitedServer`
accepts each connection itself: one beyond `api.max_connections`, or one that would leave
fewer than the reserve of free descriptors, is closed at once (nothing is read from it, no
handshake starts); every other one is in `server_state.connections` from its accept, so
those still in their TLS handshake count toward the cap. A handshake not finished within
`HANDSHAKE_TIMEOUT` seconds is aborted; then a request head must be complete within
`HEADER_TIMEOUT` seconds of the connection (or of the previous response).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import resource
import socket
from collections.abc import Iterator

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from sshgate import metrics
from sshgate.logs import log

__all__ = [
    "FD_RESERVE",
    "HANDSHAKE_TIMEOUT",
    "HEADER_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LimitedH11Protocol",
    "LimitedServer",
    "refusal",
    "reserve",
]

# Seconds for a request head to arrive (from the connection, or from the previous response).
HEADER_TIMEOUT = 5.0
# Seconds for a TLS handshake to finish from the accept, and for a TLS close to complete.
HANDSHAKE_TIMEOUT = HEADER_TIMEOUT
# Seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive).
KEEP_ALIVE_TIMEOUT = 5
# Descriptors kept free for the rest of the process, at most (a quarter of a low limit).
FD_RESERVE = 128
# Seconds to wait before accepting again when accept() itself fails (out of descriptors or
# memory), as asyncio's own servers do.
ACCEPT_RETRY_DELAY = 1.0
_FD_FOLDER = "/proc/self/fd"


def reserve(soft_limit: int) -> int:
    """How many descriptors the API leaves free under a RLIMIT_NOFILE of `soft_limit`."""
    return min(FD_RESERVE, soft_limit // 4)


def _free_descriptors() -> int | None:
    """Free descriptors under the soft limit; None where that cannot be known cheaply."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        used = len(os.listdir(_FD_FOLDER))
    except OSError:
        return None
    return soft - used


def refusal(open_connections: int, max_connections: int, free: int | None, soft: int) -> str | None:
    """Why a connection just accepted must be closed at once (the metric's reason), or None.

    `open_connections` excludes it, `free` (None: unknown) counts its descriptor as used."""
    if open_connections >= max_connections:
        return "max_connections"
    if free is not None and free < reserve(soft):
        return "descriptor_reserve"
    return None


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_header_timer()

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._header_deadline)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.abort()


class LimitedServer(uvicorn.Server):
    """uvicorn's server accepting on `sock` itself, with the limits above; `should_exit`
    stops it gracefully (requests in flight finish, handshakes in progress are aborted).

    The runtime owns signal handling (SIGTERM drains the whole process, SIGHUP reloads), so
    uvicorn's handlers are not installed; `serve()` takes no sockets."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, max_connections: int) -> None:
        super().__init__(config)
        self._socket = sock
        self._max_connections = max_connections
        self._accepting: asyncio.Task[None] | None = None
        self._opening: set[asyncio.Task[object]] = set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The runtime's handlers stay in place; it stops us with should_exit.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the lifespan and `started`; no listener of its own
        self._socket.setblocking(False)
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        self._socket.close()
        # Handshakes in progress end here, so that uvicorn's shutdown only sees connections
        # that an HTTP protocol has taken over.
        opening = list(self._opening)
        for task in opening:
            task.cancel()
        await asyncio.gather(*opening, return_exceptions=True)
        await super().shutdown(sockets=None)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        failing = False
        while True:
            try:
                conn, _ = await loop.sock_accept(self._socket)
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue  # the client left before it was accepted
                if not failing:  # once per streak: a flood must not become a flood of lines
                    log("api_accept_failed", logging.WARNING, error=str(exc))
                failing = True
                await asyncio.sleep(ACCEPT_RETRY_DELAY)
                continue
            failing = False
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            reason = refusal(
                len(self.server_state.connections),
                self._max_connections,
                _free_descriptors(),
                soft,
            )
            if reason is not None:
                # counted, not logged: a flood must not become a flood of log lines
                metrics.api_connection_refused(reason)
                conn.close()
                continue
            self._open(loop, conn)

    def _open(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        protocol = LimitedH11Protocol(
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=loop,
        )
        # counted from its accept, through its TLS handshake; connection_lost discards it
        self.server_state.connections.add(protocol)
        tls = self.config.ssl
        task: asyncio.Task[object] = loop.create_task(
            loop.connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=tls,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if tls else None,
                ssl_shutdown_timeout=HANDSHAKE_TIMEOUT if tls else None,
            )
        )
        self._opening.add(task)
        task.add_done_callback(functools.partial(self._opened, conn, protocol))

    def _opened(
        self, conn: socket.socket, protocol: LimitedH11Protocol, task: asyncio.Task[object]
    ) -> None:
        self._opening.discard(task)
        if task.cancelled() or task.exception() is not None or protocol.transport is None:
            # The handshake failed, timed out or was ended by shutdown (perhaps before the
            # task ever ran), or the connection ended before the protocol took it over: it
            # is over, whether a transport was made or not.
            self.server_state.connections.discard(protocol)
            conn.close()
