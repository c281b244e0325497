"""Local port forwarding (`ssh -L`, `ssh -W`) to the environment itself.

A client's direct-tcpip channel is decided like any session request (RequestKind
PORT_FORWARD: the certificate's permit-port-forwarding and gateway.allow_port_forwarding),
and then only reaches the environment's own loopback: the route must be an environment
service and the destination localhost, 127.0.0.1 or ::1. The gateway never opens a TCP
connection itself; it asks the environment's sshd for a direct-tcpip channel over the
upstream connection, so the environment's own AllowTcpForwarding/PermitOpen apply too.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING

import asyncssh

from sshgate.logs import log
from sshgate.policy import Decision, RequestKind, Target
from sshgate.ssh_gateway.traffic import Traffic
from sshgate.ssh_gateway.upstream import UpstreamError
from sshgate.store import AuditEvent, AuditOutcome, StoreError

if TYPE_CHECKING:
    from sshgate.ssh_gateway.connection import GatewayConnection

NOT_AN_ENVIRONMENT = "sshgate: port forwarding is only available to environment services"
NOT_LOOPBACK = (
    "sshgate: port forwarding only reaches the environment itself (localhost, 127.0.0.1 or ::1)"
)
_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def is_environment_loopback(host: str) -> bool:
    """Pure: `host` names the environment's own loopback, and nothing else (no 127.0.0.2,
    no name that a resolver could send elsewhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in _LOOPBACK
    except ValueError:
        return False


def forwarding_decision(decision: Decision, target: Target, dest_host: str) -> Decision:
    """Pure: the policy decision, narrowed to forwards into an environment's loopback."""
    if not decision.allowed:
        return decision
    if target.environment is None:
        return Decision(False, "port-forward-not-an-environment", (NOT_AN_ENVIRONMENT,), 1)
    if not is_environment_loopback(dest_host):
        return Decision(False, "port-forward-destination", (NOT_LOOPBACK,), 1)
    return decision


def open_failure_reason(lines: tuple[str, ...]) -> str:
    # A channel-open failure carries one string, which OpenSSH prints on one line
    # ("channel 1: open failed: administratively prohibited: ...").
    return "; ".join(line.strip() for line in lines)


async def open_tunnel(
    conn: GatewayConnection, dest_host: str, dest_port: int
) -> asyncssh.SSHTCPSession[bytes]:
    """Decide, audit, and connect a forwarded channel; raise ChannelOpenError to refuse."""
    kind = RequestKind.PORT_FORWARD
    detail = f"{dest_host}:{dest_port}"[:256]
    try:
        decision, target = await conn.decide(kind)
    except StoreError:
        await conn.audit(AuditEvent(time.time(), kind.value, "deny", "store-unavailable"))
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_CONNECT_FAILED, "sshgate: access cannot be checked right now"
        ) from None
    decision = forwarding_decision(decision, target, dest_host)
    outcome = "allow" if decision.allowed else "deny"
    audit_id = await conn.audit(
        AuditEvent(time.time(), kind.value, outcome, decision.rule, detail=detail)
    )
    if not decision.allowed:
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, open_failure_reason(decision.lines)
        )
    if audit_id is None:
        # Every allowed forward leaves an audit record; one that cannot is refused.
        log("denied_unaudited", service=conn.requested, kind=kind.value)
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_CONNECT_FAILED, "sshgate: access cannot be checked right now"
        )
    assert target.environment is not None
    tunnel = Tunnel(conn, audit_id)
    try:
        upstream = await conn.upstreams.get(target.environment.upstream)
        await upstream.create_connection(tunnel.environment_end, dest_host, dest_port)
    except UpstreamError as exc:
        tunnel.failed()
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
    except asyncssh.ChannelOpenError as exc:
        tunnel.failed()
        raise asyncssh.ChannelOpenError(
            exc.code, f"sshgate: the environment refused the connection to {detail}: {exc.reason}"
        ) from None
    except (asyncssh.Error, OSError) as exc:
        tunnel.failed()
        reason = f"sshgate: the environment is unreachable ({type(exc).__name__})"
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, reason) from None
    return tunnel.client_end()


class Tunnel:
    """One forwarded TCP connection: the client's channel and the environment's, bytes both
    ways with flow control (a full window on one side pauses reading on the other)."""

    kind = RequestKind.PORT_FORWARD

    def __init__(self, connection: GatewayConnection, audit_id: int | None) -> None:
        self.connection = connection
        self.traffic = Traffic()
        self._audit_id = audit_id
        self._client: asyncssh.SSHTCPChannel[bytes] | None = None
        self._environment: asyncssh.SSHTCPChannel[bytes] | None = None
        # The environment may speak first (an SSH or SMTP banner) before the client's
        # channel is confirmed: held, with reading paused, until it is.
        self._held: list[bytes] = []
        self._held_eof = False
        self._ended = False

    def client_end(self) -> _ClientEnd:
        return _ClientEnd(self)

    def environment_end(self) -> _EnvironmentEnd:
        return _EnvironmentEnd(self)

    # the environment's channel
    def environment_opened(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._environment = chan

    def from_environment(self, data: bytes) -> None:
        self.traffic.to_client(len(data))
        if self._client is None:
            self._held.append(data)
            if self._environment is not None:
                self._environment.pause_reading()
            return
        _write(self._client, data)

    def environment_eof(self) -> None:
        if self._client is None:
            self._held_eof = True
        else:
            _write_eof(self._client)

    # the client's channel
    def client_opened(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._client = chan
        self.connection.channel_opened()
        self.connection.gateway.track(self)
        for data in self._held:
            _write(chan, data)
        self._held.clear()
        if self._held_eof:
            _write_eof(chan)
        if self._environment is not None:
            self._environment.resume_reading()

    def from_client(self, data: bytes) -> None:
        self.traffic.to_environment(len(data))
        if self._environment is not None:
            _write(self._environment, data)

    def client_eof(self) -> None:
        if self._environment is not None:
            _write_eof(self._environment)

    # flow control: a full window on one side pauses reading on the other
    def pause_environment(self) -> None:
        if self._environment is not None:
            self._environment.pause_reading()

    def resume_environment(self) -> None:
        if self._environment is not None:
            self._environment.resume_reading()

    def pause_client(self) -> None:
        if self._client is not None:
            self._client.pause_reading()

    def resume_client(self) -> None:
        if self._client is not None:
            self._client.resume_reading()

    # ending
    def idle_seconds(self, now: float) -> float:
        return self.traffic.idle_seconds(now)

    def closed(self) -> None:
        """Either side closed: close the other, and record the outcome once."""
        for chan in (self._client, self._environment):
            if chan is not None:
                chan.close()
        self._finish()

    def failed(self) -> None:
        self._finish(status=255)

    def terminate(self, decision: Decision) -> None:
        """Live policy: the user no longer complies. A TCP channel cannot carry the
        message, so the forward is just closed."""
        log("session_closed", rule=decision.rule, service=self.connection.requested)
        self.closed()

    def announce_and_close(self, line: str) -> None:
        self.closed()

    def _finish(self, status: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self.connection.gateway.untrack(self)
        if self._client is not None:
            self.connection.channel_closed()
        self.connection.session_ended(
            self.kind.value,
            self._audit_id,
            AuditOutcome(
                bytes_in=self.traffic.bytes_in,
                bytes_out=self.traffic.bytes_out,
                exit_status=status,
                duration=self.traffic.duration(),
            ),
        )


class _ClientEnd(asyncssh.SSHTCPSession[bytes]):
    def __init__(self, tunnel: Tunnel) -> None:
        self._tunnel = tunnel

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._tunnel.client_opened(chan)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._tunnel.from_client(data)

    def eof_received(self) -> bool:
        self._tunnel.client_eof()
        return True  # half-close: the environment may still answer

    def pause_writing(self) -> None:
        self._tunnel.pause_environment()

    def resume_writing(self) -> None:
        self._tunnel.resume_environment()

    def connection_lost(self, exc: Exception | None) -> None:
        self._tunnel.closed()


class _EnvironmentEnd(asyncssh.SSHTCPSession[bytes]):
    def __init__(self, tunnel: Tunnel) -> None:
        self._tunnel = tunnel

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._tunnel.environment_opened(chan)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._tunnel.from_environment(data)

    def eof_received(self) -> bool:
        self._tunnel.environment_eof()
        return True

    def pause_writing(self) -> None:
        self._tunnel.pause_client()

    def resume_writing(self) -> None:
        self._tunnel.resume_client()

    def connection_lost(self, exc: Exception | None) -> None:
        self._tunnel.closed()


def _write(chan: asyncssh.SSHTCPChannel[bytes], data: bytes) -> None:
    # The other side may close while data is in flight; what arrives then has nowhere to go.
    if not chan.is_closing():
        chan.write(data)


def _write_eof(chan: asyncssh.SSHTCPChannel[bytes]) -> None:
    if not chan.is_closing():
        chan.write_eof()
