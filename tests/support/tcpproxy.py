"""A loopback TCP proxy that a test can turn into a black hole: what a cut network link
looks like to both ends (no reset, no error, no answer), and a slow one (each new
connection waits before it is forwarded, as to a far-away host)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class TcpProxy:
    """Accepts on 127.0.0.1 (`port`) and forwards each connection to `target_port`.

    `black_hole()`: from then on nothing is forwarded either way on any connection, old or
    new, and nothing is closed. `restore()`: the connections held in the black hole are
    reset (as a rebooted middlebox would) and new ones are forwarded again. `delay`: seconds
    each new connection waits before it is forwarded."""

    def __init__(self, target_port: int, delay: float = 0.0) -> None:
        self.target_port = target_port
        self.delay = delay
        self._holed = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def black_hole(self) -> None:
        self._holed.set()

    def restore(self) -> None:
        with self._lock:
            held, self._open = self._open, set()
        for sock in held:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                sock.close()
        self._holed.clear()

    def close(self) -> None:
        self._sock.close()
        self.restore()

    def _serve(self) -> None:
        while True:
            try:
                downstream, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(downstream,), daemon=True).start()

    def _connect(self, downstream: socket.socket) -> None:
        with self._lock:
            self._open.add(downstream)
        if self.delay:
            time.sleep(self.delay)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            downstream.close()
            return
        with self._lock:
            self._open.add(upstream)
        for a, b in ((downstream, upstream), (upstream, downstream)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self._holed.is_set():
                    continue  # swallowed: no answer ever comes back
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
