"""The `metrics.listen` endpoint of every `sshgate serve` role: GET /metrics, /healthz, /readyz.

A few lines of asyncio rather than a web framework: the gateway role must not need the
API's dependencies, and three fixed GET routes need no more than the request line. Each
request gets one response and the connection is closed (HTTP/1.0 style), which every
Prometheus scraper and load-balancer health check accepts.

- /healthz: 200 "ok" while the process serves at all (liveness).
- /readyz: 200 when the supplied readiness callback returns True within a few seconds
  (the store answers, keys are loaded), else 503 (readiness: take it out of the pool).
- /metrics: Prometheus text format of `sshgate.metrics.REGISTRY`, or of the registry given
  (the main process of several gateway processes serves all of theirs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sshgate.config import split_host_port
from sshgate.logs import log
from sshgate.metrics import REGISTRY

ReadinessCheck = Callable[[], Awaitable[bool]]

# A scraper sends a short request at once; anything slower or larger is not one.
REQUEST_TIMEOUT = 5.0
MAX_REQUEST_BYTES = 8192
MAX_HEADER_LINES = 100
# A readiness check that hangs (a store that stopped answering) counts as not ready.
READY_TIMEOUT = 3.0

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class HealthServer:
    """The running listener; `close()` stops it."""

    def __init__(self, server: asyncio.Server) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), REQUEST_TIMEOUT)


async def start_health_server(
    listen: str, ready: ReadinessCheck, registry: CollectorRegistry = REGISTRY
) -> HealthServer:
    """Listen on `listen` (HOST:PORT; port 0 picks a free one)."""
    host, port = split_host_port(listen)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, (status, content_type, body) = await _respond(reader, ready, registry)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_BYTES)
    return HealthServer(server)


async def _respond(
    reader: asyncio.StreamReader, ready: ReadinessCheck, registry: CollectorRegistry
) -> tuple[str, tuple[int, str, bytes]]:
    try:
        request = await asyncio.wait_for(_read_request(reader), REQUEST_TIMEOUT)
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        request = None
    if request is None:
        return "", _text(400, "bad request")
    method, path = request
    return method, await _route(method, path, ready, registry)


async def _route(
    method: str, path: str, ready: ReadinessCheck, registry: CollectorRegistry
) -> tuple[int, str, bytes]:
    if path not in ("/metrics", "/healthz", "/readyz"):
        return _text(404, "not found")
    if method not in ("GET", "HEAD"):
        return _text(405, "method not allowed")
    if path == "/healthz":
        return _text(200, "ok")
    if path == "/readyz":
        return _text(200, "ready") if await _is_ready(ready) else _text(503, "not ready")
    return 200, CONTENT_TYPE_LATEST, generate_latest(registry)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """The method and path of the request line; the headers are read and ignored."""
    line = await reader.readuntil(b"\n")
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readuntil(b"\n")).strip() == b"":
            return parts[0], parts[1].split("?", 1)[0]
    return None


async def _is_ready(ready: ReadinessCheck) -> bool:
    try:
        return bool(await asyncio.wait_for(ready(), READY_TIMEOUT))
    except Exception as exc:  # a failing check means "not ready", never a 500
        log("readiness_check_failed", error=type(exc).__name__)
        return False


def _text(status: int, text: str) -> tuple[int, str, bytes]:
    return status, "text/plain; charset=utf-8", text.encode("utf-8")


__all__ = ["HealthServer", "ReadinessCheck", "start_health_server"]
