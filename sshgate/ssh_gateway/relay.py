"""The byte relay between a client's session channel and the environment's session channel.

Flow control runs both ways (a full window on one side pauses reading on the other), data
and EOF that arrive before the upstream channel exists are held, and the upstream's exit
status or signal becomes the client's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncssh

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
    """Carries one session's bytes; created once the decision allowed it."""

    def __init__(
        self,
        client_chan: asyncssh.SSHServerChannel[bytes],
        on_end: Callable[[int | None], None],
        pty: bool = False,
    ) -> None:
        self.client_chan = client_chan
        self._line_end = "\r\n" if pty else "\n"
        self.upstream_chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self.traffic = Traffic()
        self._held: list[bytes] = []
        self._held_eof = False
        self._upstream_eof = False
        self._on_end = on_end
        self._ended = False

    @property
    def bytes_in(self) -> int:
        return self.traffic.bytes_in

    @property
    def bytes_out(self) -> int:
        return self.traffic.bytes_out

    def attach(self, upstream_chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.upstream_chan = upstream_chan
        for data in self._held:
            upstream_chan.write(data)
        self._held.clear()
        if self._held_eof:
            upstream_chan.write_eof()
        self.client_chan.resume_reading()

    # client -> environment
    def from_client(self, data: bytes) -> None:
        self.traffic.to_environment(len(data))
        if self.upstream_chan is None:
            # Until the environment's channel exists: hold, and stop reading so that what
            # is held stays within one window.
            self.client_chan.pause_reading()
            self._held.append(data)
            return
        self.upstream_chan.write(data)

    def client_sent_eof(self) -> None:
        if self.upstream_chan is None:
            self._held_eof = True
        else:
            self.upstream_chan.write_eof()

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
        if self._ended:
            return
        if self.exit_status is not None or self.exit_signal is not None:
            self._exit_client()
            return
        chan = self.client_chan
        if not chan.is_closing():
            chan.write_stderr((ENVIRONMENT_LOST + self._line_end).encode())
        self._finish(255)
        chan.exit(255)

    def _exit_client(self) -> None:
        if self._ended:
            return
        chan = self.client_chan
        if self.exit_signal is not None:
            signal, core_dumped, msg, lang = self.exit_signal
            self._finish(None)
            chan.exit_with_signal(signal, core_dumped, msg, lang)
        elif self.exit_status is not None:
            self._finish(self.exit_status)
            chan.exit(self.exit_status)

    def close_upstream(self) -> None:
        if self.upstream_chan is not None:
            self.upstream_chan.close()

    def _finish(self, status: int | None) -> None:
        if not self._ended:
            self._ended = True
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
