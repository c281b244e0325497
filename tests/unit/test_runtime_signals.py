"""`sshgate serve` takes its signals before it has started: a SIGHUP that arrives while it
starts (gateway workers may take a minute to report ready) is kept for after the start
instead of killing the process, and SIGTERM then stops it."""

from __future__ import annotations

import asyncio
import os
import signal

from sshgate.runtime import Runtime


async def _soon(predicate: object, timeout: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_sighup_while_starting_is_kept_and_a_sigterm_stops() -> None:
    runtime = Runtime(None, "all")
    reloads: list[str] = []

    async def reload() -> None:
        reloads.append("reloaded")

    runtime.reload = reload  # type: ignore[method-assign]
    runtime.handle_signals()
    try:
        os.kill(os.getpid(), signal.SIGHUP)  # would end the process without a handler
        await asyncio.sleep(0.1)
        assert reloads == []  # not started yet: kept for later
        waiting = asyncio.get_running_loop().create_task(runtime.run_until_signalled())
        assert await _soon(lambda: reloads == ["reloaded"])
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(waiting, 10)
    finally:
        runtime.release_signals()
