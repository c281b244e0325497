"""Throttles under concurrency: a burst of attempts sent at the same moment checks at most
the allowed number of passwords (10) or codes (5), because each attempt takes its slot in
the store before anything is checked. On SQLite and on PostgreSQL (where API replicas
share the count).

Checks are counted where they happen (argon2's verify, the TOTP comparison), so the tests
say how many were *checked*, not only what the answers were."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from sshgate.accounts import credentials, passwords, second_factor
from sshgate.accounts.throttle import FAILURE_LIMIT
from sshgate.store import PostgresStore, SQLiteStore, Store
from tests.api.conftest import Site, auth, open_site, wrong_code
from tests.support.postgres import PostgresCluster, emptied

BURST = 60


@pytest.fixture(autouse=True)
def production_password_hashing(
    cheap_password_hashing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 at its real cost here: the race these tests close is the time a check takes."""
    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def cluster(request: pytest.FixtureRequest) -> PostgresCluster | None:
    """None for SQLite; the session's PostgreSQL server (or a skip) for PostgreSQL."""
    if request.param == "sqlite":
        return None
    found = request.getfixturevalue("postgres_cluster")
    assert isinstance(found, PostgresCluster)
    return found


@pytest.fixture
async def any_site(cluster: PostgresCluster | None, tmp_path: Path) -> AsyncIterator[Site]:
    if cluster is None:
        store: Store = await SQLiteStore.open(str(tmp_path / "sshgate.db"))
    else:
        store = await PostgresStore.open(await emptied(cluster.url(cluster.session_database)))
    async with open_site(tmp_path, store) as site:
        yield site


class Counted:
    """Wraps a check function and counts its calls (from any thread)."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.inner(*args)


async def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_burst_of_wrong_passwords_checks_ten_and_the_right_one_after_them_is_throttled(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    await site.add_user("alice")
    checks = Counted(credentials.verify_password)
    monkeypatch.setattr(credentials, "verify_password", checks)
    wrong = [
        asyncio.ensure_future(site.login("alice", password=f"guess {i}")) for i in range(BURST)
    ]
    # the correct password arrives once ten checks are under way, still in the burst
    await wait_for(lambda: checks.calls >= FAILURE_LIMIT)
    right = await site.login("alice")
    answers = await asyncio.gather(*wrong)
    assert checks.calls <= FAILURE_LIMIT
    assert right.status_code == 429, right.text
    codes = sorted(a.status_code for a in answers)
    assert codes.count(401) <= FAILURE_LIMIT
    assert codes.count(429) >= BURST - FAILURE_LIMIT


async def test_a_burst_of_wrong_old_passwords_in_password_change_checks_at_most_ten(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    await site.add_user("alice")
    bearer = await site.token("alice")
    checks = Counted(credentials.verify_password)
    monkeypatch.setattr(credentials, "verify_password", checks)
    answers = await asyncio.gather(
        *(
            site.client.post(
                "/api/account/password",
                json={"old_password": f"guess {i}", "new_password": "a new long passphrase"},
                headers=auth(bearer),
            )
            for i in range(BURST)
        )
    )
    assert checks.calls <= FAILURE_LIMIT
    assert [a.status_code for a in answers].count(429) >= BURST - FAILURE_LIMIT


async def test_a_burst_of_wrong_codes_checks_at_most_five_and_then_the_lock_holds(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    await site.add_user("alice")
    secret, _ = await site.enable_mfa(await site.token("alice"))
    site.clock.next_step()
    bearer = await site.token("alice", totp=pyotp.TOTP(secret).at(site.clock()))
    checks = Counted(second_factor.totp.matching_step)
    monkeypatch.setattr(second_factor.totp, "matching_step", checks)
    code = wrong_code(secret, site.clock())
    answers: list[httpx.Response] = await asyncio.gather(
        *(
            site.client.post(
                "/api/account/mfa/recovery-codes", json={"code": code}, headers=auth(bearer)
            )
            for _ in range(BURST)
        )
    )
    assert checks.calls <= second_factor.MAX_FAILURES
    errors = [a.json()["error"] for a in answers]
    assert errors.count("second_factor_locked") >= BURST - second_factor.MAX_FAILURES + 1
    # locked: even the right code is not checked now
    site.clock.next_step()
    right = await site.client.post(
        "/api/account/mfa/recovery-codes",
        json={"code": pyotp.TOTP(secret).at(site.clock())},
        headers=auth(bearer),
    )
    assert right.json()["error"] == "second_factor_locked"
    assert checks.calls <= second_factor.MAX_FAILURES


async def test_a_burst_of_wrong_passwords_in_mfa_disable_checks_at_most_ten(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    await site.add_user("alice")
    secret, _ = await site.enable_mfa(await site.token("alice"))
    site.clock.next_step()
    bearer = await site.token("alice", totp=pyotp.TOTP(secret).at(site.clock()))
    checks = Counted(credentials.verify_password)
    monkeypatch.setattr(credentials, "verify_password", checks)
    answers = await asyncio.gather(
        *(
            site.client.post(
                "/api/account/mfa/disable",
                json={"password": f"guess {i}", "code": "000000"},
                headers=auth(bearer),
            )
            for i in range(BURST)
        )
    )
    assert checks.calls <= FAILURE_LIMIT
    assert [a.status_code for a in answers].count(429) >= BURST - FAILURE_LIMIT
