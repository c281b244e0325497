"""Connections to environments: the gateway's own short-lived upstream certificates, signed
by the separate upstream CA, and connections pinned to the environment's known host keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from sshgate import metrics
from sshgate.policy import Endpoint
from sshgate.ssh_gateway._packet_economy import economize

# The gateway is the client on the upstream hop, so its order decides: AES-GCM first, which
# costs the gateway's one Python core about 20% less per MiB than chacha20-poly1305
# (docs/performance.md).
UPSTREAM_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)
UPSTREAM_CERT_TTL = 600
RENEW_BEFORE = 120
CONNECT_TIMEOUT = 15


class UpstreamError(Exception):
    """The environment is unknown, down, refuses the gateway or shows a wrong host key.
    The message is the one line the user sees."""


@dataclass(frozen=True)
class UpstreamIdentity:
    """Who the gateway logs in for: the upstream login user, and the sshgate user behind it."""

    login: str
    user_id: str
    username: str

    @property
    def key_id(self) -> str:
        return f"sshgate:{self.username}:{self.user_id}"


class UpstreamSigner:
    """Signs the gateway's upstream certificates. Holds only the upstream CA key, never the
    user CA's."""

    def __init__(self, ca_key: asyncssh.SSHKey) -> None:
        self._ca_key = ca_key
        self._client_key = asyncssh.generate_private_key("ssh-ed25519")
        self._cache: dict[UpstreamIdentity, tuple[asyncssh.SSHCertificate, float]] = {}

    def credentials(self, who: UpstreamIdentity) -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]:
        now = time.time()
        cached = self._cache.get(who)
        if cached is not None and cached[1] - RENEW_BEFORE > now:
            return self._client_key, cached[0]
        valid_before = now + UPSTREAM_CERT_TTL
        cert = self._ca_key.generate_user_certificate(
            self._client_key,
            who.key_id,
            principals=[who.login],
            valid_after=int(now) - 60,
            valid_before=int(valid_before),
            permit_x11_forwarding=False,
            permit_user_rc=False,
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[who] = (cert, valid_before)
        return self._client_key, cert


def _host_keys(endpoint: Endpoint) -> list[asyncssh.SSHKey]:
    keys = []
    for line in endpoint.host_keys:
        parts = line.split()
        # known_hosts lines start with host patterns; .pub lines with the key type.
        while parts and not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            parts = parts[1:]
        if len(parts) >= 2:
            try:
                keys.append(asyncssh.import_public_key(" ".join(parts[:2])))
            except (asyncssh.KeyImportError, ValueError):
                continue
    return keys


async def connect_upstream(
    endpoint: Endpoint,
    who: UpstreamIdentity,
    signer: UpstreamSigner,
    agent_path: str | None = None,
) -> asyncssh.SSHClientConnection:
    """Log in to `endpoint` as `who.login`; raise UpstreamError with a one-line reason.

    `agent_path`: the client's forwarded agent (the gateway connection's agent listener);
    the environment's sessions then see it. It is only forwarded, never used to log in:
    the gateway logs in with its own upstream certificate alone.
    """
    host_keys = _host_keys(endpoint)
    if not host_keys:
        raise UpstreamError(f"sshgate: no known host key for the environment at {endpoint.host}")
    key, cert = signer.credentials(who)
    started = time.monotonic()
    try:
        conn = await asyncssh.connect(
            endpoint.host,
            endpoint.port,
            username=endpoint.user,
            client_keys=[(key, cert)],
            known_hosts=(host_keys, [], []),
            # Never read the gateway host's own ~/.ssh/config, agent or keys. agent_path=None
            # keeps any agent out of the login (a user's agent keys would be tried first);
            # a path given as agent_forwarding is only offered to the environment.
            config=[],
            agent_path=None,
            agent_forwarding=agent_path or False,
            preferred_auth="publickey",
            connect_timeout=CONNECT_TIMEOUT,
            keepalive_interval=30,
            encryption_algs=UPSTREAM_CIPHERS,
            encoding=None,
        )
    except asyncssh.HostKeyNotVerifiable:
        metrics.upstream_connected(time.monotonic() - started, ok=False)
        raise UpstreamError(
            "sshgate: the environment's host key does not match the one on record"
        ) from None
    except asyncssh.PermissionDenied:
        metrics.upstream_connected(time.monotonic() - started, ok=False)
        raise UpstreamError("sshgate: the environment refused the gateway's login") from None
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        metrics.upstream_connected(time.monotonic() - started, ok=False)
        reason = type(exc).__name__
        raise UpstreamError(f"sshgate: the environment is unreachable ({reason})") from None
    metrics.upstream_connected(time.monotonic() - started, ok=True)
    economize(conn)
    return conn


_IdleKey = tuple[Endpoint, str]  # environment, sshgate user id
LINGER_SECONDS = 30.0
MAX_IDLE = 1000


class IdleUpstreams:
    """Gateway-wide: upstream connections that a client connection has finished with, kept
    for LINGER_SECONDS so the same sshgate user's next connection to the same environment
    skips a second SSH handshake (a `git fetch` then `git push`, repeated `ssh host cmd`).

    Never handed to another user: the key is the environment and the user id, and the
    connection logged in with that user's upstream certificate. Connections that forward an
    agent are never parked. A parked connection carries no session.
    """

    def __init__(self, linger: float = LINGER_SECONDS) -> None:
        self._linger = linger
        self._idle: dict[_IdleKey, list[tuple[asyncssh.SSHClientConnection, asyncio.TimerHandle]]]
        self._idle = {}

    def take(self, endpoint: Endpoint, user_id: str) -> asyncssh.SSHClientConnection | None:
        parked = self._idle.get((endpoint, user_id), [])
        while parked:
            conn, timer = parked.pop()
            timer.cancel()
            if not conn.is_closed():
                return conn
        return None

    def park(self, endpoint: Endpoint, user_id: str, conn: asyncssh.SSHClientConnection) -> None:
        if conn.is_closed() or sum(len(v) for v in self._idle.values()) >= MAX_IDLE:
            conn.close()
            return
        key = (endpoint, user_id)
        timer = asyncio.get_running_loop().call_later(self._linger, self._expire, key, conn)
        self._idle.setdefault(key, []).append((conn, timer))

    def _expire(self, key: _IdleKey, conn: asyncssh.SSHClientConnection) -> None:
        self._idle[key] = [(c, t) for c, t in self._idle.get(key, []) if c is not conn]
        if not self._idle[key]:
            del self._idle[key]
        conn.close()

    def close_all(self) -> None:
        for parked in self._idle.values():
            for conn, timer in parked:
                timer.cancel()
                conn.close()
        self._idle.clear()


class UpstreamPool:
    """One client connection's upstream connections, shared by that connection's channels.

    Keyed by environment endpoint; a connection that forwards the client's agent is a
    session's own (`connect_with_agent`), outside the pool. Pools are never shared
    between client connections, so an upstream connection only ever carries one sshgate
    user's traffic to one environment.
    """

    def __init__(
        self,
        who: Callable[[Endpoint], UpstreamIdentity],
        signer: Callable[[], UpstreamSigner],
        idle: IdleUpstreams | None = None,
    ) -> None:
        self._who = who
        self._signer = signer
        self._idle = idle
        self._futures: dict[Endpoint, asyncio.Future[asyncssh.SSHClientConnection]] = {}
        self._closed = False

    async def get(self, endpoint: Endpoint) -> asyncssh.SSHClientConnection:
        if self._closed:
            raise UpstreamError("sshgate: the connection is closing")
        future = self._futures.get(endpoint)
        if future is not None and future.done():
            failed = future.exception() is not None
            if failed or future.result().is_closed():
                # A failure is not remembered, and an environment that went away since is
                # connected to again rather than failing this session.
                future = None
        if future is None:
            future = asyncio.ensure_future(self._connect(endpoint))
            self._futures[endpoint] = future
        return await asyncio.shield(future)

    async def _connect(self, endpoint: Endpoint) -> asyncssh.SSHClientConnection:
        who = self._who(endpoint)
        if self._idle is not None:
            parked = self._idle.take(endpoint, who.user_id)
            if parked is not None:
                metrics.upstream_reused()
                return parked
        return await connect_upstream(endpoint, who, self._signer())

    async def connect_with_agent(
        self, endpoint: Endpoint, agent_path: str
    ) -> asyncssh.SSHClientConnection:
        """A connection of one session's own that forwards the client's agent: never shared
        with another session, never parked; the session closes it when it ends."""
        if self._closed:
            raise UpstreamError("sshgate: the connection is closing")
        return await connect_upstream(endpoint, self._who(endpoint), self._signer(), agent_path)

    def close(self) -> None:
        """The client connection is gone: park what may serve this user again, close the rest."""
        self._closed = True
        for endpoint, future in self._futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                conn = future.result()
                if self._idle is not None:
                    self._idle.park(endpoint, self._who(endpoint).user_id, conn)
                else:
                    conn.close()
            else:
                future.cancel()
        self._futures.clear()
