"""The API cannot be used to exhaust the host and never takes the gateway down with it
(issue 13 item 2), against a real `sshgate serve --role all`:

* a 300 MiB request body, declared or chunked, leaves the serve process's memory flat;
* a connection that never sends its request head is closed within seconds;
* 600 idle HTTP connections against a process limited to 512 descriptors: `ssh` through
  the gateway of the same process still works."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import seconds_until_closed

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


def test_a_connection_that_sends_no_request_head_is_closed_within_seconds(
    deployment: Deployment,
) -> None:
    with socket.create_connection(("127.0.0.1", deployment.api_port), timeout=30) as sock:
        sock.sendall(b"GET /api/ssh/authority HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert seconds_until_closed(sock, timeout=20) < 10


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


@pytest.fixture(scope="module")
def low_descriptors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("lowfd"), nofile=512)
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def test_600_idle_http_connections_under_512_descriptors_leave_ssh_working(
    low_descriptors: Deployment,
) -> None:
    d = low_descriptors
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


@pytest.fixture(scope="module")
def five_connections(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(tmp_path_factory.mktemp("five"), {"SSHGATE_API_MAX_CONNECTIONS": "5"})
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def test_a_connection_beyond_max_connections_is_closed_at_once(
    five_connections: Deployment,
) -> None:
    port = five_connections.api_port
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert seconds_until_closed(extra, timeout=4) < 1
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # once they are gone, requests are answered again
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /api/ssh/authority HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if sock.recv(12).startswith(b"HTTP/1.1 200"):
                break
        assert time.monotonic() < deadline, "the API did not answer again"
        time.sleep(0.1)
