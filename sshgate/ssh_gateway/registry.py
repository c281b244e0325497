"""The channels a gateway let through and has not yet seen end: what live policy, the idle
timeout and draining act on, and the store's registry of open sessions (which lets
`org mfa-required ORG on` say how many sessions it will close, on every gateway).

`epoch` counts the policy versions this gateway has seen move. The request pipeline notes it
before its first await and decides again when it moved before the channel was tracked here;
from the moment a channel is tracked, every later move re-checks it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from sshgate import metrics
from sshgate.logs import log
from sshgate.policy import Decision, Identity, RequestKind, Target
from sshgate.store import LiveSession, Store, StoreError


class LiveChannel(Protocol):
    """A session or tunnel being relayed to an environment (or being connected to it)."""

    @property
    def kind(self) -> RequestKind: ...

    @property
    def ended(self) -> bool:
        """Closed already (the client went away while its request was being decided)."""

    def idle_seconds(self, now: float) -> float: ...

    def terminate(self, decision: Decision) -> None:
        """Close it with the message that applies: it no longer complies."""

    def announce_and_close(self, line: str) -> None:
        """Close it with one line (drain, idle, store outage)."""


class Recheck(Protocol):
    """What decided a channel, asked again (the request pipeline of its connection)."""

    async def recheck(self, channel: LiveChannel) -> bool:
        """Decide `channel` on the live store again; True when it was closed."""


@dataclass
class _Entry:
    recheck: Recheck
    live_id: str | None


class LiveChannels:
    def __init__(
        self, store: Store, gateway_id: str, spawn: Callable[[Coroutine[Any, Any, None]], None]
    ) -> None:
        self._store = store
        self.gateway_id = gateway_id
        self._spawn = spawn
        self._open: dict[LiveChannel, _Entry] = {}
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, channel: object) -> bool:
        return channel in self._open

    def all(self) -> list[LiveChannel]:
        return list(self._open)

    def policy_moved(self) -> None:
        self.epoch += 1

    def track(
        self, channel: LiveChannel, recheck: Recheck, identity: Identity, target: Target
    ) -> None:
        live = self._live_session(identity, target)
        self._open[channel] = _Entry(recheck, live.id if live else None)
        metrics.active_sessions(len(self._open))
        if live is not None:
            self._spawn(self._registry(self._store.open_live_session(live)))

    def untrack(self, channel: LiveChannel) -> None:
        entry = self._open.pop(channel, None)
        metrics.active_sessions(len(self._open))
        if entry is not None and entry.live_id is not None:
            self._spawn(self._registry(self._store.close_live_session(entry.live_id)))

    async def recheck_all(self) -> int:
        """Decide every open channel again; close those that no longer comply."""
        closed = 0
        for channel, entry in list(self._open.items()):
            if channel in self._open and await entry.recheck.recheck(channel):
                closed += 1
        return closed

    def _live_session(self, identity: Identity, target: Target) -> LiveSession | None:
        if target.project is None:
            return None
        return LiveSession(
            id=str(uuid.uuid4()),
            gateway_id=self.gateway_id,
            user_id=identity.user.id,
            serial=identity.serial,
            org=target.project.org,
            has_mfa=identity.has_mfa,
            has_key=identity.has_key,
            opened_at=time.time(),
            project_id=target.project.id,
        )

    async def _registry(self, write: Awaitable[None]) -> None:
        # The registry only feeds a count shown to admins; decisions never read it.
        try:
            await write
        except StoreError as exc:
            log("session_registry_failed", error=str(exc))


__all__ = ["LiveChannel", "LiveChannels", "Recheck"]
