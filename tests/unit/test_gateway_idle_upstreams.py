"""Parked upstream connections serve only the same user and environment, and expire."""

from __future__ import annotations

import asyncio

from sshgate.policy.model import Endpoint
from sshgate.ssh_gateway.upstream import IdleUpstreams

ENV = Endpoint("web", "127.0.0.1", 22, ("ssh-ed25519 AAAA",))
OTHER_ENV = Endpoint("web", "127.0.0.1", 2200, ("ssh-ed25519 AAAA",))


class FakeConnection:
    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_a_parked_connection_goes_back_to_the_same_user_only() -> None:
    idle = IdleUpstreams(linger=30)
    conn = FakeConnection()
    idle.park(ENV, "alice", conn)  # type: ignore[arg-type]
    assert idle.take(ENV, "bob") is None
    assert idle.take(OTHER_ENV, "alice") is None
    assert idle.take(ENV, "alice") is conn
    assert idle.take(ENV, "alice") is None  # taken once
    assert not conn.closed


async def test_parked_connections_expire_and_are_closed() -> None:
    idle = IdleUpstreams(linger=0.05)
    conn = FakeConnection()
    idle.park(ENV, "alice", conn)  # type: ignore[arg-type]
    for _ in range(100):
        if conn.closed:
            break
        await asyncio.sleep(0.01)
    assert conn.closed
    assert idle.take(ENV, "alice") is None


async def test_a_connection_that_died_while_parked_is_not_handed_out() -> None:
    idle = IdleUpstreams(linger=30)
    conn = FakeConnection()
    idle.park(ENV, "alice", conn)  # type: ignore[arg-type]
    conn.closed = True
    assert idle.take(ENV, "alice") is None


async def test_close_all_closes_everything_parked() -> None:
    idle = IdleUpstreams(linger=30)
    conns = [FakeConnection() for _ in range(3)]
    for i, conn in enumerate(conns):
        idle.park(ENV, f"user{i}", conn)  # type: ignore[arg-type]
    idle.close_all()
    assert all(c.closed for c in conns)
