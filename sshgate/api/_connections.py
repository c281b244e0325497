"""HTTP connections: a deadline for request headers, a cap on concurrent connections, and a
reserve of file descriptors left to the rest of the process (the gateway, in `--role all`).

A patch on uvicorn's h11 protocol class (`uvicorn.protocols.http.h11_impl.H11Protocol`),
kept in this one private file. It relies on exactly these internals of uvicorn 0.29-0.55
(pinned by tests/unit/test_api_connections.py):

* `connection_made(transport)` / `connection_lost(exc)` are called per connection, and
  `self.connections` is the set of open connections of the whole server (server_state);
* `self.conn` is the `h11.Connection`, whose `their_state` is `h11.IDLE` until a complete
  request head has arrived;
* `on_response_complete()` is called when a response has been sent and the connection is
  kept alive for the next request;
* `self.transport` is the asyncio transport.

uvicorn has no deadline for request headers (a client that sends nothing, or a byte every
few seconds, holds its connection for ever: `timeout_keep_alive` starts only after a first
response) and its `limit_concurrency` answers 503 to a connection it still keeps. Here a
connection whose request head is not complete `HEADER_TIMEOUT` seconds after it opened (or
after the previous response) is closed, and a connection beyond `api.max_connections`, or
one that would leave fewer than the reserve of free descriptors, is closed as soon as it is
accepted (the client sees the connection end; nothing is read from it).
"""

from __future__ import annotations

import asyncio
import os
import resource

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from sshgate import metrics

__all__ = ["FD_RESERVE", "HEADER_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "limited_protocol", "reserve"]

# Seconds for a request head to arrive (from the connection, or from the previous response).
HEADER_TIMEOUT = 5.0
# Seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive).
KEEP_ALIVE_TIMEOUT = 5
# Descriptors kept free for the rest of the process, at most (a quarter of a low limit).
FD_RESERVE = 128
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


def limited_protocol(max_connections: int) -> type[H11Protocol]:
    """The protocol class for uvicorn's `http=` setting, with these limits."""

    class LimitedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            refusal = self._refusal()
            if refusal is not None:
                # counted, not logged: a flood must not become a flood of log lines
                metrics.api_connection_refused(refusal)
                transport.abort()
                return
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

        def _refusal(self) -> str | None:
            if len(self.connections) > max_connections:
                return "max_connections"
            free = _free_descriptors()
            if free is not None:
                soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
                if free < reserve(soft):
                    return "descriptor_reserve"
            return None

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

    LimitedH11Protocol.__name__ = "LimitedH11Protocol"
    return LimitedH11Protocol
