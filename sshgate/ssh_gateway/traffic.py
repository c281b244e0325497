"""What one relayed channel carried: bytes each way and when the last byte passed.

The audit outcome and the session_end log line report the byte counts, the metrics count
them as they pass (a long session shows up in rates before it ends), and the idle timeout
reads `idle_seconds`.
"""

from __future__ import annotations

import time

from sshgate import metrics


class Traffic:
    def __init__(self) -> None:
        self.bytes_in = 0  # client to environment
        self.bytes_out = 0  # environment to client
        self.started = time.monotonic()
        self._last = self.started

    def to_environment(self, count: int) -> None:
        self.bytes_in += count
        self._last = time.monotonic()
        metrics.bytes_to_environment(count)

    def to_client(self, count: int) -> None:
        self.bytes_out += count
        self._last = time.monotonic()
        metrics.bytes_to_client(count)

    def idle_seconds(self, now: float) -> float:
        return now - self._last

    def duration(self) -> float:
        return time.monotonic() - self.started
