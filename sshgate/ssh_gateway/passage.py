"""Bytes from one channel to another that may not exist yet: the I/O half of
`channel_state.ChannelLifecycle`, and the only place that holds, pauses and resumes.

A session's client data waits here for the environment's channel (through the decision and
the upstream login); a tunnel's environment data waits for the client's channel. What is
held stays within one window: reading the source is paused at the first held byte.
"""

from __future__ import annotations

from typing import Protocol

from sshgate.ssh_gateway.channel_state import ChannelLifecycle, Step


class Source(Protocol):
    """The channel bytes come from."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Sink(Protocol):
    """The channel bytes go to."""

    def write(self, data: bytes) -> None: ...

    def write_eof(self) -> None: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...


class Passage:
    def __init__(self, source: Source | None = None) -> None:
        self.lifecycle = ChannelLifecycle()
        self._source = source
        self.sink: Sink | None = None

    def set_source(self, source: Source) -> None:
        self._source = source

    @property
    def ended(self) -> bool:
        return self.lifecycle.ended

    def send(self, data: bytes) -> None:
        step = self.lifecycle.data(data)
        if step is Step.HOLD and self._source is not None:
            self._source.pause_reading()
        elif step is Step.PASS and self.sink is not None and not self.sink.is_closing():
            # The far side may close while data is in flight; then it has nowhere to go.
            self.sink.write(data)

    def send_eof(self) -> None:
        step = self.lifecycle.eof()
        if step is Step.PASS and self.sink is not None and not self.sink.is_closing():
            self.sink.write_eof()

    def attach(self, sink: Sink) -> bool:
        """The far side exists: what was held goes first, then reading resumes. False (and
        `sink` closed) when the channel ended before its far side appeared."""
        flush = self.lifecycle.attach()
        if flush.close_new_side:
            sink.close()
            return False
        self.sink = sink
        for data in flush.held:
            sink.write(data)
        if flush.eof:
            sink.write_eof()
        if self._source is not None:
            self._source.resume_reading()
        return True

    def end(self) -> bool:
        """True only for the call that ended the channel."""
        return self.lifecycle.end()


__all__ = ["Passage", "Sink", "Source"]
