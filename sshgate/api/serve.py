"""Serving the API inside `sshgate serve`'s own event loop (roles `all` and `api`).

uvicorn runs as a task of the runtime's loop rather than owning a loop of its own, so that
the gateway, the API and the CA share one process, one store connection and one `ready`
line. Two of uvicorn's habits are turned off because the runtime owns them: signal handling
(SIGTERM drains the whole process, SIGHUP reloads) and binding the socket (uvicorn exits the
process when a bind fails; here the runtime reports it as a startup error). Connections are
accepted by `_connections.LimitedServer`, which checks each one before any TLS work.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import uvicorn

from sshgate.accounts import Accounts, SecretBox, SecretsKeyError
from sshgate.api._connections import KEEP_ALIVE_TIMEOUT, LimitedServer
from sshgate.api.app import create_app
from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca import KeyDir, Permissions
from sshgate.config import Config, split_host_port
from sshgate.store import Store

__all__ = ["ApiHandle", "ApiStartupError", "build_authority", "start_api"]

GRACEFUL_SHUTDOWN_SECONDS = 10
# The listen queue: connections the kernel holds before they are accepted and checked.
LISTEN_BACKLOG = 64


class ApiStartupError(Exception):
    """The API cannot start: the secrets key, the TLS files or the listen address."""


@dataclass
class ApiHandle:
    """A running API listener; `stop()` finishes requests in flight, then closes."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int  # the bound port (api.listen may say 0: any free port)

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def build_authority(config: Config, store: Store) -> CertificateAuthority:
    """The user CA with the `ca.*` settings; its key folder is read at each issue, so a
    rotation (a new key file) takes effect without a restart."""
    policy = CAPolicy(
        certificate_ttl=config.ca.certificate_ttl,
        max_certificate_ttl=config.ca.max_certificate_ttl,
        permissions=Permissions(
            pty=config.ca.permit_pty,
            port_forwarding=config.ca.permit_port_forwarding,
            agent_forwarding=config.ca.permit_agent_forwarding,
        ),
        bind_source_address=config.ca.bind_source_address,
    )
    return CertificateAuthority(KeyDir(config.ca.key_dir), store, policy)


async def start_api(config: Config, store: Store, accounts: Accounts | None = None) -> ApiHandle:
    """Start serving on `api.listen` (TLS when `api.tls_cert_file` is set) and return once
    the listener accepts connections."""
    try:
        if accounts is None:
            box = SecretBox.from_file(config.secrets.key_file)
            accounts = Accounts(
                store, box, session_ttl=config.api.session_ttl, public_url=config.api_public_url
            )
    except SecretsKeyError as exc:
        raise ApiStartupError(str(exc)) from None
    app = create_app(config, store, build_authority(config, store), accounts)
    host, port = split_host_port(config.api.listen)
    tls = config.api.tls_cert_file, config.api.tls_key_file
    uv_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # sshgate configures logging; uvicorn must not replace it
        access_log=False,
        lifespan="off",
        proxy_headers=False,  # api.trusted_proxies decides whose headers count (forwarded.py)
        server_header=False,
        # LimitedServer serves each connection with its h11 protocol (_connections.py)
        http="h11",
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ssl_certfile=str(tls[0]) if tls[0] else None,
        ssl_keyfile=str(tls[1]) if tls[1] else None,
    )
    try:
        uv_config.load()  # reads the TLS files now, so a bad one fails the start
    except (OSError, ValueError) as exc:
        raise ApiStartupError(f"api.tls_cert_file/tls_key_file: {exc}") from None
    sock = _listen(host, port)
    # api.max_connections, the descriptor reserve and the TLS handshake deadline
    server = LimitedServer(uv_config, sock, config.api.max_connections)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # re-raises what stopped it
            raise ApiStartupError("the API server stopped while starting")
        await asyncio.sleep(0.01)
    return ApiHandle(server, task, int(sock.getsockname()[1]))


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        raise ApiStartupError(f"api.listen {host}:{port}: {exc.strerror or exc}") from None
