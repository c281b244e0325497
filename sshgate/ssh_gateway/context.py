"""What a session or a tunnel may use of the connection it belongs to, and no more.

Sessions and tunnels never see the asyncssh server object (`connection.GatewayConnection`):
they get the connection's request pipeline, its upstream connections, the certificate's
permissions and the count of open channels that the idle timeout reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sshgate.ssh_gateway.pipeline import Pipeline
from sshgate.ssh_gateway.upstream import UpstreamPool


class Activity:
    """Open channels of one connection, and since when there were none: for the idle
    timeout of a connection that carries nothing (an idle ControlMaster, `ssh -N`)."""

    def __init__(self) -> None:
        self.channels = 0
        self._quiet_since = time.monotonic()

    def opened(self) -> None:
        self.channels += 1

    def closed(self) -> None:
        self.channels = max(0, self.channels - 1)
        if self.channels == 0:
            self._quiet_since = time.monotonic()

    def restart(self) -> None:
        self._quiet_since = time.monotonic()

    def quiet_seconds(self, now: float) -> float:
        return 0.0 if self.channels else now - self._quiet_since


@dataclass
class ChannelContext:
    pipeline: Pipeline
    upstreams: UpstreamPool
    permissions: Mapping[str, bool]
    env_allowlist: Callable[[], tuple[str, ...]]
    activity: Activity = field(default_factory=Activity)

    @property
    def requested(self) -> str:
        return self.pipeline.who.requested


__all__ = ["Activity", "ChannelContext"]
