"""The lifecycle of one relayed channel: held, then relaying, then ended. Pure, no I/O.

Everything that decides what happens to a byte or an EOF on its way from one side of a
relayed channel to the other lives in this file, in the spirit of h11's `_state.py`: the
other side may not exist yet (a session's environment channel while the decision and the
upstream login run; a tunnel's client channel until the client confirmed it), so what
arrives is held and the caller stops reading; once the other side is attached the held
bytes go first and reading resumes; once the channel ended nothing passes and a side that
appears late is closed. The transitions are the table `TRANSITIONS`; the shell that reads
and writes the channels is `passage.Passage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Phase(Enum):
    HELD = "held"  # the other side does not exist yet: hold what arrives, stop reading
    RELAYING = "relaying"  # both sides exist: pass everything on
    ENDED = "ended"  # closed for good: drop what arrives, close a side that appears


class Event(Enum):
    ATTACHED = "attached"  # the other side now exists
    ENDED = "ended"  # either side closed, the policy closed it, or it could not be set up


class Step(Enum):
    """What the caller does with a byte string or an EOF that arrived."""

    HOLD = "hold"  # keep it (the machine does) and pause reading the side it came from
    PASS = "pass"  # write it to the other side now
    DROP = "drop"  # the channel ended: it has nowhere to go


class ChannelStateError(Exception):
    """An event the lifecycle does not allow in its phase (a second attach): a bug."""


TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.HELD, Event.ATTACHED): Phase.RELAYING,
    (Phase.HELD, Event.ENDED): Phase.ENDED,
    (Phase.RELAYING, Event.ENDED): Phase.ENDED,
    # A side that appears after the end is closed by the caller; the channel stays ended.
    (Phase.ENDED, Event.ATTACHED): Phase.ENDED,
    (Phase.ENDED, Event.ENDED): Phase.ENDED,
}

ARRIVAL: dict[Phase, Step] = {
    Phase.HELD: Step.HOLD,
    Phase.RELAYING: Step.PASS,
    Phase.ENDED: Step.DROP,
}


@dataclass(frozen=True)
class Flush:
    """What `attach` hands over: the bytes held so far, in order, then the EOF if one came.
    `close_new_side`: the channel already ended, so the side that just appeared is closed."""

    held: tuple[bytes, ...] = ()
    eof: bool = False
    close_new_side: bool = False


class ChannelLifecycle:
    """One direction of a relayed channel that may wait for its far side."""

    def __init__(self) -> None:
        self.phase = Phase.HELD
        self._held: list[bytes] = []
        self._held_eof = False

    def _apply(self, event: Event) -> Phase:
        try:
            self.phase = TRANSITIONS[(self.phase, event)]
        except KeyError:
            raise ChannelStateError(f"{event.value} while {self.phase.value}") from None
        return self.phase

    @property
    def held_bytes(self) -> int:
        return sum(len(data) for data in self._held)

    def data(self, data: bytes) -> Step:
        step = ARRIVAL[self.phase]
        if step is Step.HOLD:
            self._held.append(data)
        return step

    def eof(self) -> Step:
        step = ARRIVAL[self.phase]
        if step is Step.HOLD:
            self._held_eof = True
        return step

    def attach(self) -> Flush:
        was = self.phase
        self._apply(Event.ATTACHED)
        if was is Phase.ENDED:
            return Flush(close_new_side=True)
        flush = Flush(tuple(self._held), self._held_eof)
        self._held.clear()
        self._held_eof = False
        return flush

    def end(self) -> bool:
        """End the channel; True only for the call that ended it (record the outcome once)."""
        was = self.phase
        self._apply(Event.ENDED)
        self._held.clear()
        return was is not Phase.ENDED

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED


__all__ = [
    "ARRIVAL",
    "TRANSITIONS",
    "ChannelLifecycle",
    "ChannelStateError",
    "Event",
    "Flush",
    "Phase",
    "Step",
]
