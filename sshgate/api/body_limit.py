"""Request bodies: at most `api.max_body_bytes`, and all of it within `BODY_DEADLINE`.

An ASGI middleware in front of the app, so that nothing (FastAPI's JSON parsing, a form
parser) ever holds a larger body: a `Content-Length` above the limit gets 413 before a byte
of the body is read; a body without one (chunked) is counted as it streams, and the chunk
that crosses the limit ends it with 413. A body that has not arrived whole by the deadline
gets 408. Either answer carries `Connection: close`, so the connection ends with it rather
than reading the rest of what the client sends. After answering, the app sees the client as
gone (`http.disconnect`) and whatever it still sends is dropped.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BODY_DEADLINE", "BodyLimit"]

# Seconds for a whole request body to arrive, from the request's start: a 64 KiB body needs
# little more than 2 KiB/s; a client that trickles a byte every few seconds is cut off.
BODY_DEADLINE = 30.0

_CLOSE = (b"connection", b"close")


def _answer(status: int, error: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"error": error, "message": message}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            _CLOSE,
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, deadline: float = BODY_DEADLINE) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.deadline = deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send)
            return
        await _Request(self, receive, send).run(scope)

    async def _too_large(self, send: Send) -> None:
        for message in _answer(
            413,
            "request_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
        ):
            await send(message)


class _Request:
    """One request's body count, deadline and answer state."""

    def __init__(self, limit: BodyLimit, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.receive_inner = receive
        self.send_inner = send
        self.received = 0
        self.started = False  # a response has started (ours or the app's)
        self.answered = False  # we answered 413/408: drop what the app sends
        self.complete = False  # the whole body arrived: no deadline on later receives
        loop = asyncio.get_running_loop()
        self.ends_at = loop.time() + limit.deadline

    async def run(self, scope: Scope) -> None:
        await self.limit.app(scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        if self.complete:
            return await self.receive_inner()
        left = self.ends_at - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(self.receive_inner(), max(left, 0.0))
        except TimeoutError:
            await self._answer(408, "request_timeout", "the request body did not arrive in time")
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit.max_bytes:
                await self._answer(
                    413,
                    "request_too_large",
                    f"the request body is larger than {self.limit.max_bytes} bytes",
                )
                return {"type": "http.disconnect"}
            self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self.send_inner(message)

    async def _answer(self, status: int, error: str, text: str) -> None:
        self.answered = True
        if self.started:
            return  # too late for a status line; the connection ends with the app's answer
        self.started = True
        for message in _answer(status, error, text):
            await self.send_inner(message)


def _content_length(scope: Scope) -> int | None:
    headers: Any = scope.get("headers") or []
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server's HTTP parser refuses a malformed one
    return None
