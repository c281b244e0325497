"""The API cannot be used to exhaust the host and never takes the gateway down with it
(issue 13 item 2), against a real `sshgate serve --role all`, over plain HTTP and over TLS
(`api.tls_cert_file`, a self-signed certificate), where the same limits hold before the
handshake:

* a 300 MiB request body, declared or chunked, leaves the serve process's memory flat;
* a connection that stalls before its request head (over TLS: before or during its
  handshake) is closed within seconds;
* 600 idle connections (over TLS: never a ClientHello) against a process limited to 512
  descriptors: `ssh` through the gateway of the same process still works;
* a connection beyond `api.max_connections` is closed at once, while the others are idle
  (over TLS: still in their handshake)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import seconds_until_closed
from tests.support.tls import self_signed

MIB = 1 << 20
BIG = 300 * MIB


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def send_big_body(port: int, chunked: bool) -> bytes:
    """POST a 300 MiB body to the login endpoint, as fast as the server takes it; returns
    what the server answered (it may close before the body is all sent)."""
    head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {BIG}\r\n\r\n"
    piece = b" " * MIB
    if chunked:
        piece = f"{MIB:x}\r\n".encode() + piece + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(BIG // MIB):
                sock.sendall(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest is never read
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_mib_body_leaves_the_serve_process_memory_flat(
    deployment: Deployment, chunked: bool
) -> None:
    process = deployment.server.process
    assert process is not None
    before = vm_kib(process.pid, "VmRSS")
    answer = send_big_body(deployment.api_port, chunked)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    grown_mib = (vm_kib(process.pid, "VmHWM") - before) / 1024
    assert grown_mib < 64, f"the serve process grew by {grown_mib:.0f} MiB"


def start(root: Path, scheme: str, env: dict[str, str], nofile: int | None = None) -> Deployment:
    """A deployment whose API speaks `scheme` (https: a self-signed certificate)."""
    if scheme == "https":
        cert_file, key_file = self_signed(root)
        env = {
            **env,
            "SSHGATE_API_TLS_CERT_FILE": str(cert_file),
            "SSHGATE_API_TLS_KEY_FILE": str(key_file),
            "SSHGATE_API_PUBLIC_URL": "https://localhost:{api_port}",
        }
    return start_deployment(root, env, nofile=nofile)


def url(d: Deployment, scheme: str, path: str) -> str:
    return f"{scheme}://127.0.0.1:{d.api_port}{path}"


def answers(d: Deployment, scheme: str) -> bool:
    """Whether the API answers a request now (a refused or reset connection: no)."""
    try:
        reply = httpx.get(url(d, scheme, "/api/ssh/authority"), verify=False, timeout=10)
    except httpx.TransportError:
        return False
    return reply.status_code == 200


def refused_metric(d: Deployment, reason: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{d.metrics_port}/metrics", timeout=10).text
    line = f'sshgate_api_connections_refused_total{{reason="{reason}"}} '
    return sum(float(row.rsplit(" ", 1)[1]) for row in text.splitlines() if row.startswith(line))


class Flood:
    """Keeps `count` idle HTTP connections open to `port`, opening new ones as the server
    closes old ones, until stopped."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Flood:
        self._fill()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()

    def _fill(self) -> None:
        while len(self.sockets) < self.count:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                time.sleep(0.05)
                continue
            sock.setblocking(False)
            self.sockets.append(sock)
            self.opened += 1

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            alive = []
            for sock in self.sockets:
                try:
                    closed = sock.recv(1) == b""
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if closed:
                    sock.close()
                else:
                    alive.append(sock)
            self.sockets = alive
            self._fill()


@pytest.fixture(scope="module", params=["http", "https"])
def low_descriptors(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Deployment, str]]:
    scheme = str(request.param)
    d = start(tmp_path_factory.mktemp(f"lowfd-{scheme}"), scheme, {}, nofile=512)
    try:
        yield d, scheme
    finally:
        d.server.stop()
        d.env.stop()


def test_600_idle_connections_under_512_descriptors_leave_ssh_working(
    low_descriptors: tuple[Deployment, str],
) -> None:
    """Over TLS the idle connections never send a ClientHello: they are refused before any
    handshake, like idle HTTP connections."""
    d, _ = low_descriptors
    bob = d.client("bob")
    d.issue(bob, "bob", ("pwd",))
    with Flood(d.api_port, 600) as flood:
        for _ in range(3):
            done = bob.ssh(d.open_service, "echo", "still-here", timeout=60)
            assert done.returncode == 0, done.stderr.decode(errors="replace")
            assert done.stdout == b"still-here\n"
        assert flood.opened >= 600
    process = d.server.process
    assert process is not None and process.poll() is None


@pytest.fixture(scope="module", params=["http", "https"])
def five_connections(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Deployment, str]]:
    scheme = str(request.param)
    root = tmp_path_factory.mktemp(f"five-{scheme}")
    d = start(root, scheme, {"SSHGATE_API_MAX_CONNECTIONS": "5"})
    try:
        yield d, scheme
    finally:
        d.server.stop()
        d.env.stop()


def stalled_connections(port: int, scheme: str) -> list[socket.socket]:
    """Connections that stop short of a request head: silent, and part of a request head
    (over TLS: part of a ClientHello's record header, and a finished handshake)."""
    silent = socket.create_connection(("127.0.0.1", port), timeout=30)
    partial = socket.create_connection(("127.0.0.1", port), timeout=30)
    if scheme == "http":
        partial.sendall(b"GET /api/ssh/authority HTTP/1.1\r\nHost: x\r\n")  # never finished
        return [silent, partial]
    partial.sendall(b"\x16\x03\x01")  # a handshake record begins, and no more comes
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    handshaken = context.wrap_socket(raw, server_hostname="localhost")  # then no request
    return [silent, partial, handshaken]


def test_a_connection_stalled_before_its_request_head_is_closed_within_seconds(
    five_connections: tuple[Deployment, str],
) -> None:
    d, scheme = five_connections
    started = time.monotonic()
    stalled = stalled_connections(d.api_port, scheme)
    try:
        for sock in stalled:
            seconds_until_closed(sock, timeout=20)
            assert time.monotonic() - started < 10, f"{sock!r} was left open"
    finally:
        for sock in stalled:
            sock.close()


def test_a_connection_beyond_max_connections_is_closed_at_once(
    five_connections: tuple[Deployment, str],
) -> None:
    """The five held connections send nothing: over TLS they are still in their handshake,
    and count; the sixth is closed before any handshake."""
    d, scheme = five_connections
    port = d.api_port
    before = refused_metric(d, "max_connections")
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert seconds_until_closed(extra, timeout=4) < 2
    finally:
        for sock in held:
            sock.close()
    assert refused_metric(d, "max_connections") == before + 1
    deadline = time.monotonic() + 10
    while not answers(d, scheme):  # once they are gone, requests are answered again
        assert time.monotonic() < deadline, "the API did not answer again"
        time.sleep(0.1)


def test_requests_on_a_kept_alive_connection_are_answered(
    five_connections: tuple[Deployment, str],
) -> None:
    d, scheme = five_connections
    with httpx.Client(verify=False, timeout=10) as client:
        for _ in range(3):
            reply = client.get(url(d, scheme, "/api/ssh/authority"))
            assert reply.status_code == 200, reply.text
        refused = client.post(url(d, scheme, "/api/auth/login"), json={})
        assert refused.status_code in (400, 422), refused.text
