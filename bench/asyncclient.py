"""asyncssh connections along the three paths, for the crowd and load measurements: the
plain key for direct and bastion (a new bastion connection per connection, like ProxyJump),
the user's certificate for the gateway; every host key pinned, no config, no agent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from bench.clientconf import LOOPBACK, ClientFiles, Endpoints

CONNECT_TIMEOUT = 30


@dataclass(frozen=True)
class AsyncTargets:
    ends: Endpoints
    plain_key: asyncssh.SSHKey
    user_key: asyncssh.SSHKey
    user_cert: asyncssh.SSHCertificate
    env_host_key: asyncssh.SSHKey
    bastion_host_key: asyncssh.SSHKey
    gateway_host_key: asyncssh.SSHKey

    @classmethod
    def load(
        cls, ends: Endpoints, files: ClientFiles, env_pub: Path, bastion_pub: Path, gw_pub: Path
    ) -> AsyncTargets:
        return cls(
            ends=ends,
            plain_key=asyncssh.read_private_key(files.plain_key),
            user_key=asyncssh.read_private_key(files.user_key),
            user_cert=asyncssh.read_certificate(files.user_cert),
            env_host_key=asyncssh.read_public_key(env_pub),
            bastion_host_key=asyncssh.read_public_key(bastion_pub),
            gateway_host_key=asyncssh.read_public_key(gw_pub),
        )


def _options(host_key: asyncssh.SSHKey) -> dict[str, Any]:
    return {
        "known_hosts": ([host_key], [], []),
        "config": [],
        "agent_path": None,
        "preferred_auth": "publickey",
        "connect_timeout": CONNECT_TIMEOUT,
    }


class PathConnection:
    """One logical connection to the environment; for the bastion path it owns two."""

    def __init__(
        self, conn: asyncssh.SSHClientConnection, jump: asyncssh.SSHClientConnection | None
    ):
        self.conn = conn
        self._jump = jump

    def close(self) -> None:
        self.conn.close()
        if self._jump is not None:
            self._jump.close()

    async def wait_closed(self) -> None:
        await self.conn.wait_closed()
        if self._jump is not None:
            await self._jump.wait_closed()


async def connect(targets: AsyncTargets, path: str) -> PathConnection:
    ends = targets.ends
    if path == "gateway":
        conn = await asyncssh.connect(
            LOOPBACK,
            ends.gateway_port,
            username=ends.service,
            client_keys=[(targets.user_key, targets.user_cert)],
            **_options(targets.gateway_host_key),
        )
        return PathConnection(conn, None)
    jump = None
    if path == "bastion":
        jump = await asyncssh.connect(
            LOOPBACK,
            ends.bastion_port,
            username=ends.login,
            client_keys=[targets.plain_key],
            **_options(targets.bastion_host_key),
        )
    try:
        conn = await asyncssh.connect(
            LOOPBACK,
            ends.env_port,
            username=ends.login,
            client_keys=[targets.plain_key],
            tunnel=jump,
            **_options(targets.env_host_key),
        )
    except BaseException:
        if jump is not None:
            jump.close()
        raise
    return PathConnection(conn, jump)
