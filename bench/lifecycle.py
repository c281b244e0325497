"""The benchmark process itself: progress lines, signals (Ctrl-C and SIGTERM both end in a
full cleanup), the open-file limit, and the event loop for the asyncssh side."""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
import time
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")
_START = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def _raise_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, through every `finally` that stops a process."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


def ignore_further_signals() -> None:
    """Cleanup runs to the end: a second Ctrl-C (a terminal sends one to every process of
    the group) must not leave servers behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def raise_open_file_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one; children (sshd, sshgate) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 65536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the asyncssh side on uvloop when it is there, like `sshgate serve` does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
