"""The one place that reaches into asyncssh's per-channel agent forwarding request.

asyncssh enables agent forwarding per connection: the first `auth-agent-req@openssh.com`
on any channel creates one listener for the whole connection. The gateway needs to know
which session asked (an upstream connection that forwards the client's agent must serve
only sessions that asked for it, e.g. under ControlMaster), and must not create the
listener at all for a certificate without `permit-agent-forwarding`.

So the channel's request handler is wrapped per channel. asyncssh looks the handler up by
name on the channel (`_process_<request>_request`) and reports a returned bool as the
reply; tests/unit/test_gateway_agent_adapter.py fails when an upgrade moves either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncssh

AGENT_REQUEST_HANDLER = "_process_auth_agent_req_at_openssh_dot_com_request"


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
