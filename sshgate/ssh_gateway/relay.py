"""The byte relay between a client's session channel and the environment's session channel.

Flow control runs both ways (a full window on one side pauses reading on the other), data
and EOF that arrive before the upstream channel exists are held (`passage.Passage`), and the
upstream's exit status or signal becomes the client's. The relay exists from the moment the
client's channel opens, so that it holds what the client sends while the request is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncssh

from sshgate.ssh_gateway.passage import Passage
from sshgate.ssh_gateway.traffic import Traffic

ENVIRONMENT_LOST = "sshgate: the environment closed the connection"


class UpstreamSide(asyncssh.SSHClientSession[bytes]):
    """The environment end of a relay: everything it says goes to the client."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._relay.to_client(data, datatype)

    def eof_received(self) -> bool:
        self._relay.upstream_eof()
        return True

    def exit_status_received(self, status: int) -> None:
        self._relay.exit_status = status
        self._relay.exit_if_done()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self._relay.exit_signal = (signal, core_dumped, msg, lang)
        self._relay.exit_if_done()

    def pause_writing(self) -> None:
        self._relay.client_chan.pause_reading()

    def resume_writing(self) -> None:
        self._relay.client_chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay.upstream_closed()


class Relay:
    """Carries one session's bytes; its passage holds them until the environment's channel
    is attached, and its lifecycle ends once (`ended`)."""

    def __init__(
        self,
        client_chan: asyncssh.SSHServerChannel[bytes],
        on_end: Callable[[int | None], None],
        pty: bool = False,
    ) -> None:
        self.client_chan = client_chan
        self.pty = pty
        self.upstream_chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self.traffic = Traffic()
        self._to_environment = Passage(client_chan)
        self._upstream_eof = False
        self._on_end = on_end

    @property
    def bytes_in(self) -> int:
        return self.traffic.bytes_in

    @property
    def bytes_out(self) -> int:
        return self.traffic.bytes_out

    @property
    def ended(self) -> bool:
        return self._to_environment.ended

    def attach(self, upstream_chan: asyncssh.SSHClientChannel[bytes]) -> bool:
        """The environment's channel exists. False (and it is closed) when the session
        ended while the environment was being reached (drain, idle, live policy)."""
        if not self._to_environment.attach(upstream_chan):
            return False
        self.upstream_chan = upstream_chan
        return True

    # client -> environment
    def from_client(self, data: bytes) -> None:
        self.traffic.to_environment(len(data))
        self._to_environment.send(data)

    def client_sent_eof(self) -> None:
        self._to_environment.send_eof()

    def pause_upstream(self) -> None:
        if self.upstream_chan is not None:
            self.upstream_chan.pause_reading()

    def resume_upstream(self) -> None:
        if self.upstream_chan is not None:
            self.upstream_chan.resume_reading()

    # environment -> client
    def to_client(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.traffic.to_client(len(data))
        if self.client_chan.is_closing():
            return  # the client went away; the upstream channel is being closed
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.client_chan.write_stderr(data)
        else:
            self.client_chan.write(data)

    def upstream_eof(self) -> None:
        # The environment's EOF is passed on together with its exit status, not before:
        # the OpenSSH client closes a channel once it has seen EOF both ways, asyncssh
        # answers that close at once, and an exit status sent after it is lost (ssh would
        # exit 255). sshd may send the exit status before the last output, so both wait
        # for EOF.
        self._upstream_eof = True
        self.exit_if_done()

    def exit_if_done(self) -> None:
        if self._upstream_eof and (self.exit_status is not None or self.exit_signal is not None):
            self._exit_client()

    def upstream_closed(self) -> None:
        if self.ended:
            return
        if self.exit_status is not None or self.exit_signal is not None:
            self._exit_client()
            return
        chan = self.client_chan
        if not chan.is_closing():
            line_end = "\r\n" if self.pty else "\n"
            chan.write_stderr((ENVIRONMENT_LOST + line_end).encode())
        self.finish(255)
        chan.exit(255)

    def _exit_client(self) -> None:
        if self.ended:
            return
        chan = self.client_chan
        if self.exit_signal is not None:
            signal, core_dumped, msg, lang = self.exit_signal
            self.finish(None)
            chan.exit_with_signal(signal, core_dumped, msg, lang)
        elif self.exit_status is not None:
            self.finish(self.exit_status)
            chan.exit(self.exit_status)

    def close_upstream(self) -> None:
        if self.upstream_chan is not None:
            self.upstream_chan.close()

    def finish(self, status: int | None) -> None:
        """End the session's lifecycle; the outcome is recorded by the first call only."""
        if self._to_environment.end():
            self._on_end(status)

    # Forwarded session requests.
    def change_terminal_size(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.upstream_chan is not None:
            self.upstream_chan.change_terminal_size(width, height, pixwidth, pixheight)

    def send_signal(self, signal: str) -> None:
        if self.upstream_chan is not None:
            self.upstream_chan.send_signal(signal)

    def send_break(self, msec: int) -> bool:
        if self.upstream_chan is None:
            return False
        self.upstream_chan.send_break(msec)
        return True


def relay_factory(relay: Relay) -> Callable[[], UpstreamSide]:
    def factory() -> UpstreamSide:
        return UpstreamSide(relay)

    return factory


__all__: list[Any] = ["ENVIRONMENT_LOST", "Relay", "UpstreamSide", "relay_factory"]
