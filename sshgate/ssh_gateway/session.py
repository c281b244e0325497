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
from sshgate.ssh_gateway._agent_adapter import decide_agent_opens
from sshgate.ssh_gateway.certcheck import PERMIT_PTY
from sshgate.ssh_gateway.context import ChannelContext
from sshgate.ssh_gateway.pipeline import Allowed, Request
from sshgate.ssh_gateway.plan import Plan, SessionRequest, greeting, plan_session
from sshgate.ssh_gateway.relay import Relay, relay_factory
from sshgate.ssh_gateway.upstream import UpstreamError
from sshgate.store import AuditOutcome

UPSTREAM_FAILURE_STATUS = 255
ALWAYS_PASSED_ENV = ("GIT_PROTOCOL",)
MALFORMED = "malformed-request"
AGENT_FROM_ENVIRONMENT = "opened by the environment"


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
    def __init__(self, context: ChannelContext) -> None:
        self._context = context
        self._pipeline = context.pipeline
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._pty: tuple[str, tuple[int, int, int, int], Mapping[int, int]] | None = None
        self._request: SessionRequest | None = None
        self._relay: Relay | None = None
        self._task: asyncio.Task[None] | None = None
        self._audit_id: int | None = None
        self._agent_audit_id: int | None = None
        self._agent_upstream: asyncssh.SSHClientConnection | None = None
        self._started = time.monotonic()
        self._decided: RequestKind | None = None
        self.agent_requested = False

    @property
    def kind(self) -> RequestKind:
        return self._decided or RequestKind.SHELL

    @property
    def ended(self) -> bool:
        return self._relay is not None and self._relay.ended

    # asyncssh hooks: requests
    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan
        # From now on, what the client sends is held until the environment's channel exists.
        self._relay = Relay(chan, self._ended)
        self._context.activity.opened()

    def agent_was_requested(self) -> None:
        self.agent_requested = True

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        if not self._context.permissions.get(PERMIT_PTY, False):
            return False
        self._pty = (term_type, _sane_size(term_size), dict(term_modes))
        if self._relay is not None:
            self._relay.pty = True
        return True

    def shell_requested(self) -> bool:
        self._request = SessionRequest(self._context.requested, "shell")
        return True

    def exec_requested(self, command: str) -> bool:
        self._request = SessionRequest(self._context.requested, "exec", command)
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self._request = SessionRequest(self._context.requested, "subsystem", subsystem)
        return True

    def session_started(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    # asyncssh hooks: traffic
    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._relay is not None:
            self._relay.from_client(data)

    def eof_received(self) -> bool:
        if self._relay is not None:
            self._relay.client_sent_eof()
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
        self._close_upstream()
        self._record_end(None)
        self._context.activity.closed()

    # the decision
    async def _run(self) -> None:
        chan, request = self._chan, self._request
        if chan is None or request is None:
            return
        plan = plan_session(request)
        self._decided = plan.kind
        detail = request.command
        if plan.refusal is not None:
            refused = Request(plan.kind, detail)
            await self._pipeline.audit(refused, "deny", MALFORMED)
            self._refuse((plan.refusal,), plan.refusal_status)
            return
        answer = await self._pipeline.admit(Request(plan.kind, detail), self)
        if not isinstance(answer, Allowed):
            self._refuse(answer.lines, answer.exit_status)
            return
        self._audit_id = answer.audit_id
        if plan.kind is RequestKind.GIT_GREETING:
            self._greet(answer.target)
            return
        await self._forward(plan, answer.target, request)

    def _greet(self, target: Target) -> None:
        assert self._chan is not None and target.project is not None
        user = self._pipeline.identity.user
        can_push = capability(target.org_role, target.project_role) >= Capability.WRITE
        line = greeting(user.username, target.project.id, target.project.title, can_push)
        self._chan.write(render((line,), self._pty is not None))
        self._end(0)

    async def _forward(self, plan: Plan, target: Target, request: SessionRequest) -> None:
        assert self._chan is not None and self._relay is not None
        relay = self._relay
        try:
            endpoint, command, subsystem = _upstream_action(plan, target, request)
            upstream = await self._upstream(plan, endpoint)
            env = allowed_environment(self._chan.get_environment(), self._context.env_allowlist())
            pty = self._pty
            upstream_chan, _ = await upstream.create_session(
                relay_factory(relay),
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
        if not relay.attach(upstream_chan):
            # Closed while the environment was being reached (drain, idle, live policy).
            self._close_upstream()

    async def _upstream(self, plan: Plan, endpoint: Endpoint) -> asyncssh.SSHClientConnection:
        """The upstream connection for this session. One that forwards the client's agent is
        this session's own: closed when the session ends, never shared or parked."""
        agent_path = await self._agent_for(plan)
        if agent_path is None:
            return await self._context.upstreams.get(endpoint)
        upstream = await self._context.upstreams.connect_with_agent(endpoint, agent_path)
        self._agent_upstream = upstream
        if self._relay is None or self._relay.ended:
            upstream.close()
            raise UpstreamError("sshgate: the session ended")
        decide_agent_opens(upstream, self._agent_opened_by_environment)
        return upstream

    async def _agent_for(self, plan: Plan) -> str | None:
        """The client's forwarded agent, when this session asked for it and policy allows.

        A refusal is one line on stderr and the session goes on without the agent, as with
        OpenSSH's sshd; git commands never need an agent, so git routes never forward it.
        """
        if not self.agent_requested or plan.git_operation is not None or self._chan is None:
            return None
        answer = await self._pipeline.admit(Request(RequestKind.AGENT_FORWARD), None)
        if not isinstance(answer, Allowed):
            if not self._chan.is_closing():
                self._chan.write_stderr(render(answer.lines, self._pty is not None))
            return None
        self._agent_audit_id = answer.audit_id
        return self._chan.get_agent_path()

    async def _agent_opened_by_environment(self) -> bool:
        """A process in the environment opened the forwarded agent: decided live."""
        if self._relay is None or self._relay.ended:
            return False
        request = Request(RequestKind.AGENT_FORWARD, AGENT_FROM_ENVIRONMENT)
        answer = await self._pipeline.admit(request, None)
        if not isinstance(answer, Allowed):
            return False
        # The audit record has no byte count: the agent's traffic is not seen here.
        self._pipeline.ended(RequestKind.AGENT_FORWARD, answer.audit_id, AuditOutcome(0, 0, 0, 0))
        return not self._relay.ended

    # ending
    def idle_seconds(self, now: float) -> float:
        if self._relay is None or self._relay.upstream_chan is None:
            return now - self._started
        return self._relay.traffic.idle_seconds(now)

    def _refuse(self, lines: tuple[str, ...], status: int) -> None:
        assert self._chan is not None
        if self._relay is not None and self._relay.ended:
            return  # already ended (drain, idle, live policy) while this was decided
        if not self._chan.is_closing():
            self._chan.write_stderr(render(lines, self._pty is not None))
        self._end(status)

    def _end(self, status: int) -> None:
        assert self._chan is not None
        self._record_end(status)
        self._chan.exit(status)

    def _close_upstream(self) -> None:
        if self._relay is not None:
            self._relay.close_upstream()
        if self._agent_upstream is not None:
            self._agent_upstream.close()

    def terminate(self, decision: Decision) -> None:
        """Close a session that no longer complies, with the message that applies."""
        if self._chan is None or self._relay is None or self._relay.ended:
            return
        self._close_upstream()
        log("session_closed", rule=decision.rule, service=self._context.requested)
        self._refuse(decision.lines, 1)

    def announce_and_close(self, line: str) -> None:
        if self._chan is None or self._relay is None or self._relay.ended:
            return
        self._close_upstream()
        self._refuse((line,), UPSTREAM_FAILURE_STATUS)

    def _record_end(self, status: int | None) -> None:
        if self._relay is not None:
            self._relay.finish(status)  # calls _ended, the first time only

    def _ended(self, status: int | None) -> None:
        self._pipeline.release(self)
        if self._agent_upstream is not None:
            self._agent_upstream.close()  # its agent goes with the session
        if self._decided is None:
            return  # never decided: nothing was audited, nothing to report
        relay = self._relay
        outcome = AuditOutcome(
            bytes_in=relay.bytes_in if relay else 0,
            bytes_out=relay.bytes_out if relay else 0,
            exit_status=status,
            duration=time.monotonic() - self._started,
        )
        self._pipeline.ended(self._decided, self._audit_id, outcome)
        if self._agent_audit_id is not None:
            self._pipeline.ended(RequestKind.AGENT_FORWARD, self._agent_audit_id, outcome)


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
