"""Two API replicas (two apps, each with its own PostgreSQL pool, one configuration: the same
secrets key and CA folder) on one database: a one-time value sent to both at the same
moment is accepted by exactly one, whichever gets there first. A WebAuthn answer, a
`login --web` authorization code and an approved `login --device` code. Each test first
shows that the other replica accepts what the first one started (so that a refusal in the
race is the single use, not a replica that knows nothing). And a `login --device` poller
cannot get round slow_down by asking the replicas in turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sshgate.store import PostgresStore
from tests.api.conftest import Site, make_config, open_site
from tests.api.test_api_security_keys import ORIGIN, RP_ID, add_key, key_options, sign_in
from tests.api.test_cli_device import decide, poll, start
from tests.api.test_cli_signin import allow, exchange, pkce
from tests.api.test_console import Browser, new_user_signed_in
from tests.support.softkey import SoftKey

Replicas = tuple[Site, Site]


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[Replicas]:
    config = make_config(tmp_path)
    async with (
        open_site(tmp_path, await PostgresStore.open(postgres_url), config) as a,
        open_site(tmp_path, await PostgresStore.open(postgres_url), config) as b,
    ):
        yield a, b


def statuses(answers: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in answers)


async def test_a_key_answer_sent_to_two_replicas_at_once_signs_in_once(
    replicas: Replicas,
) -> None:
    a, b = replicas
    # One race a user: each refused answer counts as a wrong second factor (five lock it).
    for n, name in enumerate(("alice", "bob", "carol")):
        await a.add_user(name)
        key = SoftKey(RP_ID, ORIGIN)
        assert (await add_key(a, await a.token(name), key)).status_code == 201
        if n == 0:
            crossed = await sign_in(b, key, await key_options(a, name))
            assert crossed.status_code == 200, crossed.text
        begun = await key_options(a, name)
        body = {
            "ticket": begun["ticket"],
            "challenge_id": begun["challenge_id"],
            "credential": key.get(begun["options"]),
        }
        raced = await asyncio.gather(
            *(s.client.post("/api/auth/key", json=body) for s in (a, b, a, b))
        )
        assert statuses(raced) == [200, 401, 401, 401], [r.text for r in raced]


async def test_a_login_web_code_sent_to_two_replicas_at_once_opens_one_session(
    replicas: Replicas,
) -> None:
    a, b = replicas
    alice: Browser = await new_user_signed_in(a, "alice")
    verifier, challenge = pkce()
    crossed = await exchange(b, (await allow(alice, challenge))["code"][0], verifier)
    assert crossed.status_code == 200, crossed.text
    for _ in range(3):
        verifier, challenge = pkce()
        code = (await allow(alice, challenge))["code"][0]
        raced = await asyncio.gather(*(exchange(s, code, verifier) for s in (a, b, a, b)))
        assert statuses(raced) == [200, 400, 400, 400], [r.text for r in raced]
        assert {r.json()["error"] for r in raced if r.status_code == 400} == {"invalid_grant"}


async def test_an_approved_device_code_polled_at_two_replicas_at_once_opens_one_session(
    replicas: Replicas,
) -> None:
    a, b = replicas
    alice = await new_user_signed_in(a, "alice")
    for round in range(3):
        started = await start(b)
        assert (await decide(alice, started["user_code"], "allow")).status_code == 200
        if round == 0:  # started at b, approved at a, taken at b
            assert (await poll(b, started["device_code"])).status_code == 200
            continue
        raced = await asyncio.gather(*(poll(s, started["device_code"]) for s in (a, b, a, b)))
        assert statuses(raced) == [200, 400, 400, 400], [r.text for r in raced]


async def test_polling_two_replicas_in_turn_faster_than_the_interval_answers_slow_down(
    replicas: Replicas,
) -> None:
    a, b = replicas
    started = await start(a)
    assert (await poll(a, started["device_code"])).json()["error"] == "authorization_pending"
    assert (await poll(b, started["device_code"])).json()["error"] == "slow_down"
    assert (await poll(a, started["device_code"])).json()["error"] == "slow_down"
