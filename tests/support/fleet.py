"""For tests that run several `sshgate serve` processes (tests/e2e/test_multi_gateway.py):
each process's ports, the HTTP and SSH calls a test makes to one process in particular, and
a stand-in for the TCP load balancer that sends the PROXY protocol."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from dataclasses import dataclass

import asyncssh
import httpx

from sshgate.demo.sshd import free_port
from tests.support.deployment import Client


@dataclass(frozen=True)
class Ports:
    """One process's listeners, and the SSHGATE_* overrides that put them there."""

    gateway: int
    api: int
    metrics: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port())

    def overrides(self) -> dict[str, str]:
        return {
            "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{self.gateway}",
            "SSHGATE_API_LISTEN": f"127.0.0.1:{self.api}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{self.metrics}",
        }


def api(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def login(port: int, username: str, password: str, totp: str | None = None) -> httpx.Response:
    body = {"username": username, "password": password, **({"totp": totp} if totp else {})}
    return httpx.post(f"{api(port)}/api/auth/login", json=body, timeout=30)


def token_for(port: int, username: str, password: str) -> str:
    """A login session's bearer token from the API on `port`."""
    response = login(port, username, password)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def certify(port: int, token: str, client: Client) -> int:
    """A certificate for `client`'s key from the API on `port`, written where ssh finds it."""
    response = httpx.post(
        f"{api(port)}/api/ssh/certificate",
        json={"key": client.public_key},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    client.cert.write_text(response.json()["certificate"] + "\n")
    return int(response.json()["serial"])


def readyz(port: int) -> int:
    """The status of GET /readyz on the metrics port, 0 when nothing answers."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def host_key_of(port: int) -> str:
    """The host key (`type base64`) that the SSH server on `port` presents."""

    async def fetch() -> str:
        key = await asyncssh.get_server_host_key("127.0.0.1", port, config=[])
        assert key is not None
        return " ".join(key.export_public_key().decode().split()[:2])

    return asyncio.run(fetch())


# --- a load balancer stand-in for the PROXY protocol tests ----------------------------------

PROXY_V2_SIGNATURE = bytes.fromhex("0d0a0d0a000d0a515549540a")


def proxy_v2_header(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A PROXY protocol v2 header (command PROXY, TCP over IPv4 or IPv6), built here from the
    specification rather than by the code under test."""
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    family = 0x11 if src.version == 4 else 0x21
    block = (
        src.packed + dst.packed + source[1].to_bytes(2, "big") + destination[1].to_bytes(2, "big")
    )
    return PROXY_V2_SIGNATURE + bytes([0x21, family]) + len(block).to_bytes(2, "big") + block


class ProxyRelay:
    """What HAProxy's `send-proxy-v2` does: accept on 127.0.0.1, connect to the gateway from
    `source` (another loopback address), send a PROXY v2 header naming `client` as the
    connection's origin, then relay both ways until either side closes."""

    def __init__(
        self,
        target_port: int,
        client: tuple[str, int] = ("10.1.2.3", 40022),
        source: str = "127.0.0.2",
    ) -> None:
        self.target_port = target_port
        self.client = client
        self.source = source
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                downstream, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(
                    ("127.0.0.1", self.target_port), timeout=10, source_address=(self.source, 0)
                )
                upstream.settimeout(None)
                upstream.sendall(proxy_v2_header(self.client, ("127.0.0.1", self.target_port)))
            except OSError:
                downstream.close()
                continue
            self._open.update((downstream, upstream))
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()
        for s in list(self._open):
            with contextlib.suppress(OSError):
                s.close()
