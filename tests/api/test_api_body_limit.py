"""Request bodies over api.max_body_bytes get 413 before anything parses them, whether the
size is declared (Content-Length) or only known as the body streams (chunked); a body that
does not arrive in time gets 408 (issue 13 item 2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from sshgate.api.body_limit import BodyLimit
from tests.api.conftest import Site, auth, user_public_key

LIMIT = 65536


async def chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


async def test_a_declared_body_over_the_limit_is_413(site: Site) -> None:
    response = await site.client.post(
        "/api/auth/login",
        content=b"{" + b" " * LIMIT + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"
    assert response.headers["connection"] == "close"


async def test_a_streamed_body_over_the_limit_is_413(site: Site) -> None:
    response = await site.client.post(
        "/api/auth/login",
        content=chunks(4 * LIMIT),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_a_certificate_request_with_a_big_rsa_key_fits(site: Site) -> None:
    await site.add_user("alice")
    bearer = await site.token("alice")
    answer = await site.client.post(
        "/api/ssh/certificate",
        json={"key": user_public_key(), "padding": " " * 20000},
        headers=auth(bearer),
    )
    assert answer.status_code == 200, answer.text


class Recorder:
    """An app that reads the whole body, as a JSON parser would, and says how much it got."""

    def __init__(self) -> None:
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            self.read += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def run(app: BodyLimit, messages: list[Message], delay: float = 0.0) -> list[Message]:
    sent: list[Message] = []
    queue = list(messages)

    async def receive() -> Message:
        if delay:
            await asyncio.sleep(delay)
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await app(scope, receive, send)
    return sent


async def test_the_app_never_reads_past_the_limit() -> None:
    inner = Recorder()
    body = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}] * 100
    sent = await run(BodyLimit(inner, max_bytes=4096), body)
    assert sent[0]["status"] == 413
    assert inner.read <= 4096


async def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    inner = Recorder()
    body = [{"type": "http.request", "body": b"x", "more_body": True}] * 10
    sent = await run(BodyLimit(inner, max_bytes=4096, deadline=0.2), body, delay=0.1)
    assert sent[0]["status"] == 408
    assert [m for m in sent if m["type"] == "http.response.start"] == sent[:1]


@pytest.mark.parametrize("size", [0, 4096])
async def test_bodies_up_to_the_limit_reach_the_app(size: int) -> None:
    inner = Recorder()
    sent = await run(
        BodyLimit(inner, max_bytes=4096),
        [{"type": "http.request", "body": b"x" * size, "more_body": False}],
    )
    assert sent[0]["status"] == 200 and inner.read == size
