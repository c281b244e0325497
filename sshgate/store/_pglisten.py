"""Policy changes pushed by PostgreSQL: LISTEN on the channel that the policy_version trigger
notifies (see `_pgmigrations.AFTER`), on a connection of its own.

A notification says "the policy moved, now at version N". Notifications sent while the
listener is disconnected are lost for good, so after every (re)connection the callback is
also called once with the version read then: a caller that re-checks whenever the version
differs from what it last saw misses nothing. Still, a gateway keeps its periodic
`policy_version()` poll as the safety net (a half-open TCP connection is only noticed by
the keep-alive query below).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from sshgate.logs import log
from sshgate.store._pgdatabase import translated
from sshgate.store._pgmigrations import POLICY_CHANNEL
from sshgate.store.base import StoreError

PolicyCallback = Callable[[int], None]

# Seconds: how often an idle LISTEN connection is checked, how long the check may take, and
# the waits between reconnection attempts (doubling up to the last).
KEEPALIVE_INTERVAL = 10.0
KEEPALIVE_TIMEOUT = 5.0
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class PolicyListener:
    """Calls `callback(version)` when the policy version moves in any process; started by
    `PostgresStore.listen_policy_changes`, ended by `stop()` or the store's `close()`.

    The callback runs on the event loop and must not block; to do async work, set an
    asyncio.Event or start a task. `connected` says whether notifications can arrive now.
    """

    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], callback: PolicyCallback
    ) -> None:
        self._connect = connect
        self._callback = callback
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def start(self) -> None:
        """Listen; raises StoreError when the first connection fails (later losses are
        retried in the background)."""
        conn = await self._listen()
        self._task = asyncio.get_running_loop().create_task(self._run(conn))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def _listen(self) -> asyncpg.Connection:
        """A connection LISTENing, or StoreError."""
        conn = await self._connect()
        try:
            with translated():
                await conn.add_listener(POLICY_CHANNEL, self._notified)
                version = await conn.fetchval("SELECT version FROM policy_version WHERE id = 1")
        except BaseException:
            await _close(conn)
            raise
        self.connected = True
        self._deliver(int(version))  # whatever moved while nobody listened
        return conn

    async def _run(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                await self._hold(conn)
                self.connected = False
                log("policy_listener_lost", level=logging.WARNING)
                await _close(conn)
                conn = await self._reconnect()
                log("policy_listener_connected")
        finally:
            self.connected = False
            await _close(conn)

    async def _hold(self, conn: asyncpg.Connection) -> None:
        """Return when the connection is lost or stops answering."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        while not conn.is_closed():
            try:
                await asyncio.wait_for(lost.wait(), KEEPALIVE_INTERVAL)
                return
            except TimeoutError:
                pass  # quiet: make sure the server is still there
            try:
                await conn.fetchval("SELECT 1", timeout=KEEPALIVE_TIMEOUT)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    async def _reconnect(self) -> asyncpg.Connection:
        attempt = 0
        while True:
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1
            try:
                return await self._listen()
            except StoreError as exc:
                log("policy_listener_retry", level=logging.DEBUG, error=str(exc))

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            version = int(payload)
        except ValueError:
            return
        self._deliver(version)

    def _deliver(self, version: int) -> None:
        try:
            self._callback(version)
        except Exception as exc:
            log("policy_callback_failed", level=logging.ERROR, error=repr(exc))


async def _close(conn: asyncpg.Connection) -> None:
    with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await conn.close(timeout=1)
    if not conn.is_closed():
        conn.terminate()
