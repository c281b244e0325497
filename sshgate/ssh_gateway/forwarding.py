"""Local port forwarding (`ssh -L`, `ssh -W`) to the environment itself.

A client's direct-tcpip channel is decided like any session request (RequestKind
PORT_FORWARD: the certificate's permit-port-forwarding and gateway.allow_port_forwarding),
and then only reaches the environment's own loopback: the route must be an environment
service and the destination localhost, 127.0.0.1 or ::1. The gateway never opens a TCP
connection itself; it asks the environment's sshd for a direct-tcpip channel over the
upstream connection, so the environment's own AllowTcpForwarding/PermitOpen apply too.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

import asyncssh

from sshgate.logs import log
from sshgate.policy import Decision, RequestKind, Target
from sshgate.ssh_gateway.context import ChannelContext
from sshgate.ssh_gateway.passage import Passage
from sshgate.ssh_gateway.pipeline import STORE_UNAVAILABLE_RULE, UNAUDITED, Allowed, Request
from sshgate.ssh_gateway.traffic import Traffic
from sshgate.ssh_gateway.upstream import UpstreamError
from sshgate.store import AuditOutcome

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
    context: ChannelContext, dest_host: str, dest_port: int
) -> asyncssh.SSHTCPSession[bytes]:
    """Decide, audit, and connect a forwarded channel; raise ChannelOpenError to refuse.

    The tunnel is tracked for live re-checks from the decision on, before the environment
    is reached: one that stops complying meanwhile is closed like any other."""
    detail = f"{dest_host}:{dest_port}"[:256]
    tunnel = Tunnel(context)
    request = Request(RequestKind.PORT_FORWARD, detail, narrowed_to(dest_host))
    answer = await context.pipeline.admit(request, tunnel)
    if not isinstance(answer, Allowed):
        unavailable = answer.rule in (STORE_UNAVAILABLE_RULE, UNAUDITED)
        code = (
            asyncssh.OPEN_CONNECT_FAILED
            if unavailable
            else asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED
        )
        raise asyncssh.ChannelOpenError(code, open_failure_reason(answer.lines))
    tunnel.audit_id = answer.audit_id
    assert answer.target.environment is not None
    try:
        upstream = await context.upstreams.get(answer.target.environment.upstream)
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
    if tunnel.ended:
        # Closed while the environment was being reached (drain, idle, live policy).
        tunnel.closed()
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "sshgate: access was closed")
    return tunnel.client_end()


def narrowed_to(dest_host: str) -> Callable[[Decision, Target], Decision]:
    """The forwarding rule for one destination, as the pipeline applies it."""
    return functools.partial(_narrowed, dest_host=dest_host)


def _narrowed(decision: Decision, target: Target, dest_host: str) -> Decision:
    return forwarding_decision(decision, target, dest_host)


class Tunnel:
    """One forwarded TCP connection: the client's channel and the environment's, bytes both
    ways with flow control (a full window on one side pauses reading on the other). The
    environment may speak first (an SSH or SMTP banner) before the client's channel is
    confirmed: its passage holds that until it is."""

    kind = RequestKind.PORT_FORWARD

    def __init__(self, context: ChannelContext) -> None:
        self._context = context
        self.traffic = Traffic()
        self.audit_id: int | None = None
        self._client: asyncssh.SSHTCPChannel[bytes] | None = None
        self._environment: asyncssh.SSHTCPChannel[bytes] | None = None
        self._to_client = Passage()

    @property
    def ended(self) -> bool:
        return self._to_client.ended

    def client_end(self) -> _ClientEnd:
        return _ClientEnd(self)

    def environment_end(self) -> _EnvironmentEnd:
        return _EnvironmentEnd(self)

    # the environment's channel
    def environment_opened(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._environment = chan
        self._to_client.set_source(chan)

    def from_environment(self, data: bytes) -> None:
        self.traffic.to_client(len(data))
        self._to_client.send(data)

    def environment_eof(self) -> None:
        self._to_client.send_eof()

    # the client's channel
    def client_opened(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        if self._to_client.attach(chan):
            self._client = chan
            self._context.activity.opened()

    def from_client(self, data: bytes) -> None:
        self.traffic.to_environment(len(data))
        if self._environment is not None:
            _write(self._environment, data)

    def client_eof(self) -> None:
        if self._environment is not None and not self._environment.is_closing():
            self._environment.write_eof()

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
        log("session_closed", rule=decision.rule, service=self._context.requested)
        self.closed()

    def announce_and_close(self, line: str) -> None:
        self.closed()

    def _finish(self, status: int | None = None) -> None:
        if not self._to_client.end():
            return
        pipeline = self._context.pipeline
        pipeline.release(self)
        if self._client is not None:
            self._context.activity.closed()
        pipeline.ended(
            self.kind,
            self.audit_id,
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
