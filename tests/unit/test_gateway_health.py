"""The metrics.listen endpoint: /healthz, /readyz with the supplied readiness check, /metrics
in Prometheus text format, and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from sshgate import health, metrics
from sshgate.health import HealthServer, start_health_server


class Readiness:
    """A readiness check the test can flip, make fail or make hang."""

    def __init__(self) -> None:
        self.answer: bool | Exception | None = True  # None: never answers

    async def __call__(self) -> bool:
        if self.answer is None:
            await asyncio.sleep(3600)
        if isinstance(self.answer, Exception):
            raise self.answer
        return bool(self.answer)


@pytest.fixture
async def served() -> AsyncIterator[tuple[HealthServer, Readiness]]:
    ready = Readiness()
    server = await start_health_server("127.0.0.1:0", ready)
    try:
        yield server, ready
    finally:
        await server.close()


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return await request(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


async def test_healthz_says_ok(served: tuple[HealthServer, Readiness]) -> None:
    server, _ = served
    status, headers, body = await get(server.port, "/healthz")
    assert (status, body) == (200, b"ok")
    assert headers["Content-Length"] == "2"


async def test_readyz_follows_the_readiness_check(served: tuple[HealthServer, Readiness]) -> None:
    server, ready = served
    assert (await get(server.port, "/readyz"))[:1] == (200,)
    ready.answer = False
    assert (await get(server.port, "/readyz"))[0] == 503
    ready.answer = RuntimeError("store down")
    assert (await get(server.port, "/readyz"))[0] == 503
    ready.answer = True
    assert (await get(server.port, "/readyz?verbose=1"))[0] == 200


async def test_a_hanging_readiness_check_is_not_ready(
    served: tuple[HealthServer, Readiness], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ready = served
    monkeypatch.setattr(health, "READY_TIMEOUT", 0.2)
    ready.answer = None
    status, _, body = await get(server.port, "/readyz")
    assert (status, body) == (503, b"not ready")


async def test_metrics_are_the_dedicated_registry_in_prometheus_text_format(
    served: tuple[HealthServer, Readiness],
) -> None:
    server, _ = served
    metrics.connection_accepted()
    status, headers, body = await get(server.port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    families = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {
        "sshgate_gateway_connections",
        "sshgate_gateway_auth_refusals",
        "sshgate_gateway_decisions",
        "sshgate_gateway_active_sessions",
        "sshgate_gateway_relayed_bytes",
        "sshgate_gateway_upstream_connect_seconds",
        "sshgate_ca_certificates_issued",
    } <= families
    # The global registry's process and platform collectors are not mixed in.
    assert not any(name.startswith(("process_", "python_")) for name in families)


async def test_a_registry_can_be_supplied() -> None:
    registry = CollectorRegistry()
    Counter("only_this", "A test counter.", registry=registry).inc()
    server = await start_health_server("127.0.0.1:0", Readiness(), registry)
    try:
        _, _, body = await get(server.port, "/metrics")
    finally:
        await server.close()
    assert b"only_this_total 1.0" in body
    assert b"sshgate_" not in body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /nope HTTP/1.1\r\n\r\n", 404),
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"garbage\r\n\r\n", 400),
        (b"GET /healthz\r\n\r\n", 400),
        (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n", 400),
    ],
    ids=["unknown-path", "wrong-method", "garbage", "no-version", "too-long"],
)
async def test_anything_else_is_refused(
    served: tuple[HealthServer, Readiness], raw: bytes, status: int
) -> None:
    server, _ = served
    assert (await request(server.port, raw))[0] == status


async def test_head_has_headers_but_no_body(served: tuple[HealthServer, Readiness]) -> None:
    server, _ = served
    status, headers, body = await get(server.port, "/healthz", method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, "2", b"")


async def test_a_silent_client_is_dropped(
    served: tuple[HealthServer, Readiness], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.setattr(health, "REQUEST_TIMEOUT", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_close_stops_listening() -> None:
    server = await start_health_server("127.0.0.1:0", Readiness())
    port = server.port
    await server.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
