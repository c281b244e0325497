"""The private patch on uvicorn's h11 protocol (sshgate.api._connections): the internals it
relies on are still there, and the descriptor reserve."""

from __future__ import annotations

import inspect

import h11
import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol

from sshgate.api._connections import FD_RESERVE, limited_protocol, reserve


@pytest.mark.parametrize(
    "name", ["connection_made", "connection_lost", "data_received", "on_response_complete"]
)
def test_uvicorn_h11_protocol_still_has_the_hooks_the_patch_overrides(name: str) -> None:
    assert callable(getattr(H11Protocol, name))


def test_uvicorn_h11_protocol_still_keeps_the_state_the_patch_reads() -> None:
    source = inspect.getsource(H11Protocol)
    for attribute in ("self.connections", "self.conn", "self.transport", "self.loop"):
        assert attribute in source, attribute
    assert h11.IDLE  # their_state before a complete request head


def test_the_limited_protocol_is_a_uvicorn_h11_protocol() -> None:
    assert issubclass(limited_protocol(10), H11Protocol)


@pytest.mark.parametrize(
    ("soft_limit", "kept_free"),
    [(64, 16), (512, 128), (1024, FD_RESERVE), (1 << 20, FD_RESERVE)],
)
def test_the_descriptor_reserve(soft_limit: int, kept_free: int) -> None:
    assert reserve(soft_limit) == kept_free
