"""The asyncssh internals the agent adapter relies on, and what it does with them. These fail
first when an asyncssh upgrade moves them; see sshgate/ssh_gateway/_agent_adapter.py."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import asyncssh
import pytest
from asyncssh.channel import SSHChannel

from sshgate.ssh_gateway._agent_adapter import (
    AGENT_OPEN_HANDLER,
    AGENT_REQUEST_HANDLER,
    decide_agent_opens,
    watch_agent_requests,
)


def test_asyncssh_dispatches_channel_requests_by_handler_name_and_reports_a_bool() -> None:
    assert callable(getattr(asyncssh.SSHServerChannel, AGENT_REQUEST_HANDLER))
    source = inspect.getsource(SSHChannel._service_next_request)
    assert "'_process_' + map_handler_name(request) + '_request'" in source
    assert "getattr(self, name, None)" in source
    assert "self._report_response(result)" in source
    params = inspect.signature(asyncssh.SSHServerConnection.create_server_channel).parameters
    assert "encoding" in params


@dataclass
class Seen:
    requested: list[bool] = field(default_factory=list)
    agent_paths: list[str | None] = field(default_factory=list)


async def _serve(permitted: bool, seen: Seen) -> asyncssh.SSHAcceptor:
    class Session(asyncssh.SSHServerSession[bytes]):
        def __init__(self) -> None:
            self.requested = False
            self._chan: asyncssh.SSHServerChannel[bytes] | None = None

        def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
            self._chan = chan

        def exec_requested(self, command: str) -> bool:
            return True

        def session_started(self) -> None:
            assert self._chan is not None
            seen.requested.append(self.requested)
            seen.agent_paths.append(self._chan.get_agent_path())
            self._chan.exit(0)

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self._conn = conn

        def begin_auth(self, username: str) -> bool:
            return False

        def session_requested(
            self,
        ) -> tuple[asyncssh.SSHServerChannel[bytes], asyncssh.SSHServerSession[bytes]]:
            session = Session()
            chan: asyncssh.SSHServerChannel[bytes] = self._conn.create_server_channel(encoding=None)

            def mark() -> None:
                session.requested = True

            watch_agent_requests(chan, lambda: permitted, mark)
            return chan, session

    return await asyncssh.create_server(
        Server,
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        agent_forwarding=True,
        encoding=None,
    )


@pytest.mark.parametrize("permitted", [True, False], ids=["permitted", "not-permitted"])
async def test_each_channel_learns_whether_it_asked_and_the_listener_needs_permission(
    permitted: bool,
) -> None:
    seen = Seen()
    server = await _serve(permitted, seen)
    port = server.sockets[0].getsockname()[1]
    try:
        for forward in (False, True, False):
            async with asyncssh.connect(
                "127.0.0.1",
                port,
                username="u",
                known_hosts=None,
                config=[],
                agent_path=None,
                client_keys=None,
                agent_forwarding="/nonexistent/agent.sock" if forward else False,
            ) as conn:
                result = await conn.run("x", encoding=None)
                assert result.exit_status == 0
    finally:
        server.close()
        await server.wait_closed()
    assert seen.requested == [False, True, False]
    assert [path is not None for path in seen.agent_paths] == [False, permitted, False]


def test_asyncssh_opens_agent_channels_by_handler_name_and_awaits_the_forwarder() -> None:
    assert callable(getattr(asyncssh.SSHClientConnection, AGENT_OPEN_HANDLER))
    opener = inspect.getsource(asyncssh.connection.SSHConnection._process_channel_open)
    assert "'_process_' + map_handler_name(chantype) + '_open'" in opener
    assert "chan.process_open(send_chan, send_window," in opener
    finish = inspect.getsource(SSHChannel._finish_open_request)
    assert "inspect.isawaitable(result)" in finish
    assert "except ChannelOpenError as exc:" in finish


class _Upstream:
    """Stands in for the upstream connection: its agent opener hands back a channel and the
    coroutine that would connect the agent."""

    def __init__(self) -> None:
        self.connected = 0

    def _process_auth_agent_at_openssh_dot_com_open(self, packet: object) -> tuple[str, object]:
        return "channel", self._forward()

    async def _forward(self) -> str:
        self.connected += 1
        return "forwarder"


@pytest.mark.parametrize("allowed", [True, False])
async def test_each_agent_channel_the_environment_opens_is_decided_first(allowed: bool) -> None:
    upstream = _Upstream()
    asked: list[bool] = []

    async def decide() -> bool:
        asked.append(True)
        return allowed

    decide_agent_opens(upstream, decide)  # type: ignore[arg-type]
    chan, forwarder = getattr(upstream, AGENT_OPEN_HANDLER)(object())
    assert chan == "channel" and asked == []  # nothing decided before asyncssh awaits it
    if allowed:
        assert await forwarder == "forwarder"
        assert upstream.connected == 1
    else:
        with pytest.raises(asyncssh.ChannelOpenError):
            await forwarder
        assert upstream.connected == 0
    assert asked == [True]
