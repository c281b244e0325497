"""The one place that reaches into asyncssh's agent forwarding: the client's per-channel
request, and the agent channels an environment opens back.

asyncssh enables agent forwarding per connection: the first `auth-agent-req@openssh.com`
on any channel creates one listener for the whole connection. The gateway needs to know
which session asked (an upstream connection that forwards the client's agent must serve
only sessions that asked for it, e.g. under ControlMaster), and must not create the
listener at all for a certificate without `permit-agent-forwarding`.

So the channel's request handler is wrapped per channel. asyncssh looks the handler up by
name on the channel (`_process_<request>_request`) and reports a returned bool as the
reply; tests/unit/test_gateway_agent_adapter.py fails when an upgrade moves either.

The other way, a process in the environment that uses the forwarded agent makes the
environment open an `auth-agent@openssh.com` channel on the gateway's upstream connection,
which asyncssh forwards to the agent path at once. Each such open is decided on the live
policy first: asyncssh looks the opener up by name on the connection
(`_process_<channel type>_open`), and accepts a handler that returns the channel and an
awaitable of its forwarder; a ChannelOpenError raised by that awaitable refuses the open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh

AGENT_REQUEST_HANDLER = "_process_auth_agent_req_at_openssh_dot_com_request"
AGENT_OPEN_HANDLER = "_process_auth_agent_at_openssh_dot_com_open"
AGENT_REFUSED = "sshgate: the forwarded agent is no longer available to this session"


def watch_agent_requests(
    chan: asyncssh.SSHServerChannel[bytes],
    permitted: Callable[[], bool],
    requested: Callable[[], None],
) -> None:
    """Call `requested()` when the client asks `chan` for agent forwarding, and let asyncssh
    set up the agent listener only when `permitted()`."""
    original = getattr(chan, AGENT_REQUEST_HANDLER)

    def handler(packet: Any) -> bool | None:
        requested()
        if not permitted():
            packet.check_end()
            return False
        result: bool | None = original(packet)
        return result

    setattr(chan, AGENT_REQUEST_HANDLER, handler)


def decide_agent_opens(
    upstream: asyncssh.SSHClientConnection, allowed: Callable[[], Awaitable[bool]]
) -> None:
    """Let the environment reach the forwarded agent through `upstream` only when
    `allowed()` (awaited for each agent channel it opens) says so."""
    original = getattr(upstream, AGENT_OPEN_HANDLER)

    def handler(packet: Any) -> tuple[Any, Awaitable[Any]]:
        chan, forwarder = original(packet)

        async def decided() -> Any:
            if not await allowed():
                forwarder.close()  # the unstarted coroutine that would connect the agent
                raise asyncssh.ChannelOpenError(
                    asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, AGENT_REFUSED
                )
            return await forwarder

        return chan, decided()

    setattr(upstream, AGENT_OPEN_HANDLER, handler)
