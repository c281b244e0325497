"""Connections to environments: the gateway's own short-lived upstream certificates, signed
by the separate upstream CA, and connections pinned to the environment's known host keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncssh

from sshgate.policy.model import Endpoint

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
    """Log in to `endpoint` as `who.login`; raise UpstreamError with a one-line reason."""
    host_keys = _host_keys(endpoint)
    if not host_keys:
        raise UpstreamError(f"sshgate: no known host key for the environment at {endpoint.host}")
    key, cert = signer.credentials(who)
    try:
        return await asyncssh.connect(
            endpoint.host,
            endpoint.port,
            username=endpoint.user,
            client_keys=[(key, cert)],
            known_hosts=(host_keys, [], []),
            # Never read the gateway host's own ~/.ssh/config, agent or keys: the only
            # agent offered upstream is the client's own, when it forwards one.
            config=[],
            agent_path=agent_path,
            agent_forwarding=agent_path is not None,
            preferred_auth="publickey",
            connect_timeout=CONNECT_TIMEOUT,
            keepalive_interval=30,
            encoding=None,
        )
    except asyncssh.HostKeyNotVerifiable:
        raise UpstreamError(
            "sshgate: the environment's host key does not match the one on record"
        ) from None
    except asyncssh.PermissionDenied:
        raise UpstreamError("sshgate: the environment refused the gateway's login") from None
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        reason = type(exc).__name__
        raise UpstreamError(f"sshgate: the environment is unreachable ({reason})") from None
