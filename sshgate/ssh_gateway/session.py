"""One session channel of a client: decide on its request, then relay it to the environment.

asyncssh calls the request hooks synchronously; the decision needs the live store, so the
channel is accepted and the decision runs in `session_started`. Nothing reaches the
environment before the decision allows it: client data is held until then.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import asyncssh

from sshgate.logs import log
from sshgate.policy import (
    Capability,
    Decision,
    Endpoint,
    RequestKind,
    Target,
    capability,
    render,
    upstream_git_command,
)
from sshgate.ssh_gateway.plan import Plan, SessionRequest, greeting, plan_session
from sshgate.ssh_gateway.relay import Relay, relay_factory
from sshgate.ssh_gateway.upstream import UpstreamError
from sshgate.store import AuditEvent, AuditOutcome, StoreError

if TYPE_CHECKING:
    from sshgate.ssh_gateway.connection import GatewayConnection

STORE_UNAVAILABLE = "sshgate: access cannot be checked right now; try again later"
UPSTREAM_FAILURE_STATUS = 255
ALWAYS_PASSED_ENV = ("GIT_PROTOCOL",)


def allowed_environment(
    env: Mapping[str, str], allowlist: tuple[str, ...]
) -> dict[bytes | str, bytes | str]:
    patterns = (*ALWAYS_PASSED_ENV, *allowlist)
    return {
        name: value
        for name, value in env.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }


class GatewaySession(asyncssh.SSHServerSession[bytes]):
    def __init__(self, conn: GatewayConnection) -> None:
        self._conn = conn
        self.connection = conn
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._pty: tuple[str, tuple[int, int, int, int], Mapping[int, int]] | None = None
        self._request: SessionRequest | None = None
        self._relay: Relay | None = None
        self._task: asyncio.Task[None] | None = None
        self._audit_id: int | None = None
        self._started = time.monotonic()
        self._finished = False
        self._early: list[bytes] = []
        self._early_eof = False
        self.kind: RequestKind | None = None
        self.target: Target | None = None
        self.agent_requested = False

    # asyncssh hooks: requests
    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan
        self._conn.channel_opened()

    def agent_was_requested(self) -> None:
        self.agent_requested = True

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        if not self._conn.permits_pty:
            return False
        self._pty = (term_type, _sane_size(term_size), dict(term_modes))
        return True

    def shell_requested(self) -> bool:
        self._request = SessionRequest(self._conn.requested, "shell")
        return True

    def exec_requested(self, command: str) -> bool:
        self._request = SessionRequest(self._conn.requested, "exec", command)
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self._request = SessionRequest(self._conn.requested, "subsystem", subsystem)
        return True

    def session_started(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    # asyncssh hooks: traffic
    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._relay is not None:
            self._relay.from_client(data)
        elif self._chan is not None:
            # Before the decision: hold nothing beyond one window's worth.
            self._chan.pause_reading()
            self._early.append(data)

    def eof_received(self) -> bool:
        if self._relay is not None:
            self._relay.client_sent_eof()
        else:
            self._early_eof = True
        return True

    def pause_writing(self) -> None:
        if self._relay is not None:
            self._relay.pause_upstream()

    def resume_writing(self) -> None:
        if self._relay is not None:
            self._relay.resume_upstream()

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self._relay is not None:
            w, h, pw, ph = _sane_size((width, height, pixwidth, pixheight))
            self._relay.change_terminal_size(w, h, pw, ph)

    def signal_received(self, signal: str) -> None:
        if self._relay is not None:
            self._relay.send_signal(signal)

    def break_received(self, msec: int) -> bool:
        return self._relay.send_break(msec) if self._relay is not None else False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._relay is not None:
            self._relay.close_upstream()
        self._record_end(None)
        self._conn.channel_closed()

    # the decision
    async def _run(self) -> None:
        chan, request = self._chan, self._request
        if chan is None or request is None:
            return
        plan = plan_session(request)
        self.kind = plan.kind
        if plan.refusal is not None:
            await self._audit("deny", "malformed-request", request)
            self._refuse((plan.refusal,), plan.refusal_status)
            return
        try:
            decision, target = await self._conn.decide(plan.kind)
        except StoreError:
            await self._audit("deny", "store-unavailable", request)
            self._refuse((STORE_UNAVAILABLE,), 1)
            return
        self.target = target
        await self._audit("allow" if decision.allowed else "deny", decision.rule, request)
        if not decision.allowed:
            self._refuse(decision.lines, decision.exit_status)
            return
        if self._audit_id is None:
            # Every allowed request leaves an audit record; one that cannot is denied.
            log("denied_unaudited", service=request.requested, kind=plan.kind.value)
            self._refuse((STORE_UNAVAILABLE,), 1)
            return
        if plan.kind is RequestKind.GIT_GREETING:
            self._greet(target)
            return
        await self._forward(plan, target, request)

    def _greet(self, target: Target) -> None:
        assert self._chan is not None and target.project is not None
        user = self._conn.identity_or_raise().user
        can_push = capability(target.org_role, target.project_role) >= Capability.WRITE
        line = greeting(user.username, target.project.id, target.project.title, can_push)
        self._chan.write(render((line,), self._pty is not None))
        self._end(0)

    async def _forward(self, plan: Plan, target: Target, request: SessionRequest) -> None:
        assert self._chan is not None
        self._relay = Relay(self._chan, self._record_end, pty=self._pty is not None)
        # What the client sent before the decision goes first; the relay holds it (and
        # what follows) until the environment's channel is attached.
        for data in self._early:
            self._relay.from_client(data)
        self._early.clear()
        if self._early_eof:
            self._relay.client_sent_eof()
        self._conn.gateway.track(self)
        try:
            endpoint, command, subsystem = _upstream_action(plan, target, request)
            agent_path = await self._agent_for(plan, target)
            upstream = await self._conn.upstreams.get(endpoint, agent_path)
            env = allowed_environment(self._chan.get_environment(), self._conn.env_allowlist)
            pty = self._pty
            upstream_chan, _ = await upstream.create_session(
                relay_factory(self._relay),
                command=command,
                subsystem=subsystem,
                env=env,
                term_type=pty[0] if pty else None,
                term_size=pty[1] if pty else None,
                term_modes=pty[2] if pty else None,
                request_pty=pty is not None,
                encoding=None,
            )
        except UpstreamError as exc:
            self._refuse((str(exc),), UPSTREAM_FAILURE_STATUS)
            return
        except (asyncssh.Error, OSError) as exc:
            log("upstream_session_failed", service=request.requested, error=type(exc).__name__)
            self._refuse(("sshgate: the environment refused the session",), UPSTREAM_FAILURE_STATUS)
            return
        if self._finished:
            # Closed while the environment was being reached (drain, idle, live policy).
            upstream_chan.close()
            return
        self._relay.attach(upstream_chan)

    async def _agent_for(self, plan: Plan, target: Target) -> str | None:
        """The client's forwarded agent, when this session asked for it and policy allows.

        A refusal is one line on stderr and the session goes on without the agent, as with
        OpenSSH's sshd; git commands never need an agent, so git routes never forward it.
        """
        if not self.agent_requested or plan.git_operation is not None or self._chan is None:
            return None
        kind = RequestKind.AGENT_FORWARD
        decision = self._conn.decide_for(kind, target)
        await self._conn.audit(
            AuditEvent(
                time.time(),
                kind.value,
                "allow" if decision.allowed else "deny",
                decision.rule,
                service=target.requested,
            )
        )
        if not decision.allowed:
            if not self._chan.is_closing():
                self._chan.write_stderr(render(decision.lines, self._pty is not None))
            return None
        return self._chan.get_agent_path()

    # ending
    def idle_seconds(self, now: float) -> float:
        if self._relay is None:
            return now - self._started
        return self._relay.traffic.idle_seconds(now)

    def _refuse(self, lines: tuple[str, ...], status: int) -> None:
        assert self._chan is not None
        if self._finished:
            return  # already ended (drain, idle, live policy) while this was decided
        if not self._chan.is_closing():
            self._chan.write_stderr(render(lines, self._pty is not None))
        self._end(status)

    def _end(self, status: int) -> None:
        assert self._chan is not None
        self._record_end(status)
        self._chan.exit(status)

    def terminate(self, decision: Decision) -> None:
        """Close a session that no longer complies, with the message that applies."""
        if self._chan is None or self._finished:
            return
        if self._relay is not None:
            self._relay.close_upstream()
        log("session_closed", rule=decision.rule, service=self._conn.requested)
        self._refuse(decision.lines, 1)

    def announce_and_close(self, line: str) -> None:
        if self._chan is None or self._finished:
            return
        if self._relay is not None:
            self._relay.close_upstream()
        self._refuse((line,), UPSTREAM_FAILURE_STATUS)

    async def _audit(self, decision: str, rule: str, request: SessionRequest) -> None:
        self._audit_id = await self._conn.audit(
            AuditEvent(
                time=time.time(),
                kind=(self.kind.value if self.kind else request.action),
                decision=decision,
                reason=rule,
                service=request.requested,
                detail=(request.command or "")[:256] or None,
            )
        )

    def _record_end(self, status: int | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._conn.gateway.untrack(self)
        if self.kind is None:
            return  # never decided: nothing was audited, nothing to report
        relay = self._relay
        outcome = AuditOutcome(
            bytes_in=relay.bytes_in if relay else 0,
            bytes_out=relay.bytes_out if relay else 0,
            exit_status=status,
            duration=time.monotonic() - self._started,
        )
        self._conn.session_ended(self.kind.value, self._audit_id, outcome)


def _upstream_action(
    plan: Plan, target: Target, request: SessionRequest
) -> tuple[Endpoint, str | None, str | None]:
    if plan.git_operation is not None:
        project = target.project
        if project is None or project.git_upstream is None:
            raise UpstreamError("sshgate: this project has no git repository configured")
        return (
            project.git_upstream,
            upstream_git_command(plan.git_operation, project.git_path),
            None,
        )
    assert target.environment is not None
    if request.action == "subsystem":
        return target.environment.upstream, None, request.command
    return target.environment.upstream, request.command, None


def _sane_size(size: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    # A hostile client may ask for absurd sizes; clamp what is passed upstream.
    return tuple(max(0, min(value, 10_000)) for value in size)  # type: ignore[return-value]
