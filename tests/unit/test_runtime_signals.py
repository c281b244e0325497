"""`sshgate serve` takes its signals before it has started: a SIGHUP that arrives while it
starts (gateway workers may take a minute to report ready) is kept for after the start
instead of killing the process, and SIGTERM then stops it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from sshgate import runtime as runtime_module
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


async def test_a_failed_reload_is_logged_as_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[tuple[str, int]] = []
    monkeypatch.setattr(
        runtime_module, "log", lambda event, level=logging.INFO, **f: logged.append((event, level))
    )
    broken = tmp_path / "config.toml"
    broken.write_text("[gateway\n")
    await Runtime(str(broken), "gateway").reload()
    assert logged == [("reload_failed", logging.ERROR)]
