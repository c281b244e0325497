"""The lifecycle of a relayed channel (held -> relaying -> ended), pure: every transition of
the table, what happens to bytes and EOF in each phase, and the shell that pauses and resumes
(`passage.Passage`) over fake channels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sshgate.ssh_gateway.channel_state import (
    TRANSITIONS,
    ChannelLifecycle,
    ChannelStateError,
    Event,
    Phase,
    Step,
)
from sshgate.ssh_gateway.passage import Passage


def _in(phase: Phase) -> ChannelLifecycle:
    lifecycle = ChannelLifecycle()
    if phase is Phase.RELAYING:
        lifecycle.attach()
    elif phase is Phase.ENDED:
        lifecycle.end()
    assert lifecycle.phase is phase
    return lifecycle


def _fire(lifecycle: ChannelLifecycle, event: Event) -> None:
    if event is Event.ATTACHED:
        lifecycle.attach()
    else:
        lifecycle.end()


@pytest.mark.parametrize(
    ("phase", "event", "after"),
    [(phase, event, after) for (phase, event), after in TRANSITIONS.items()],
    ids=[f"{p.value}-{e.value}" for p, e in TRANSITIONS],
)
def test_each_transition_of_the_table_is_what_the_lifecycle_does(
    phase: Phase, event: Event, after: Phase
) -> None:
    lifecycle = _in(phase)
    _fire(lifecycle, event)
    assert lifecycle.phase is after


def test_the_table_covers_every_pair_but_a_second_attach() -> None:
    missing = {(p, e) for p in Phase for e in Event} - set(TRANSITIONS)
    assert missing == {(Phase.RELAYING, Event.ATTACHED)}
    with pytest.raises(ChannelStateError):
        _in(Phase.RELAYING).attach()


@pytest.mark.parametrize(
    ("phase", "step"),
    [(Phase.HELD, Step.HOLD), (Phase.RELAYING, Step.PASS), (Phase.ENDED, Step.DROP)],
)
def test_bytes_and_eof_are_held_passed_or_dropped_by_phase(phase: Phase, step: Step) -> None:
    assert _in(phase).data(b"x") is step
    assert _in(phase).eof() is step


def test_attach_hands_over_what_was_held_in_order_then_the_eof() -> None:
    lifecycle = ChannelLifecycle()
    for chunk in (b"one", b"two", b"three"):
        lifecycle.data(chunk)
    lifecycle.eof()
    assert lifecycle.held_bytes == 11
    flush = lifecycle.attach()
    assert flush.held == (b"one", b"two", b"three")
    assert flush.eof and not flush.close_new_side
    assert lifecycle.held_bytes == 0


def test_a_side_that_appears_after_the_end_is_closed_and_gets_nothing() -> None:
    lifecycle = ChannelLifecycle()
    lifecycle.data(b"held")
    lifecycle.end()
    flush = lifecycle.attach()
    assert flush.close_new_side and flush.held == ()


def test_only_the_first_end_reports_the_end() -> None:
    lifecycle = _in(Phase.RELAYING)
    assert lifecycle.end() is True
    assert lifecycle.end() is False


@dataclass
class FakeChannel:
    written: list[bytes] = field(default_factory=list)
    eof: bool = False
    paused: int = 0
    resumed: int = 0
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1


def test_the_passage_pauses_its_source_while_holding_and_resumes_once_attached() -> None:
    source, sink = FakeChannel(), FakeChannel()
    passage = Passage(source)
    passage.send(b"early")
    passage.send_eof()
    assert source.paused == 1 and sink.written == []
    assert passage.attach(sink)
    assert sink.written == [b"early"] and sink.eof and source.resumed == 1
    passage.send(b"late")
    assert sink.written == [b"early", b"late"]


def test_the_passage_closes_a_far_side_that_appears_after_the_end() -> None:
    source, sink = FakeChannel(), FakeChannel()
    passage = Passage(source)
    passage.send(b"early")
    assert passage.end()
    assert not passage.attach(sink)
    assert sink.closed and sink.written == []


def test_the_passage_writes_nothing_to_a_closing_far_side() -> None:
    sink = FakeChannel()
    passage = Passage()
    passage.attach(sink)
    sink.closed = True
    passage.send(b"in flight")
    assert sink.written == []
