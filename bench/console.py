"""The `console` section: each Console page's latency over HTTP, with 1,000 members in an
organization (the Security page lists them all).

An org `bench-console` gets an owner without MFA (the org does not require it, so a
password sign-in may open every page) and 1,000 members, written straight into the store
with one password hash (argon2id once, not 1,000 times). The owner signs in to the Console
like a browser (the sign-in form, its CSRF token, the session cookie), then each page is
fetched `rounds` times, one request at a time, over HTTP to `sshgate serve`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.stats import percentile
from sshgate.accounts import hash_password
from sshgate.config import load_config
from sshgate.policy import ADVANCED_USER_MANAGEMENT, OrgRole
from sshgate.store import open_store

ORG = "bench-console"
OWNER = "console-owner"
PASSWORD = "bench console password"
PAGES = ("/projects", "/profile", "/tokens", f"/orgs/{ORG}", f"/orgs/{ORG}/security")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class PageTimes:
    """One page's latency, in milliseconds."""

    path: str
    n: int
    p50: float
    p99: float
    bytes: int

    def to_json(self) -> dict[str, object]:
        return {"n": self.n, "p50_ms": self.p50, "p99_ms": self.p99, "bytes": self.bytes}


async def populate(config_path: Path, members: int) -> None:
    config = load_config(config_path, env={})
    store = await open_store(config.storage.url, str(config.base_dir))
    try:
        password_hash = hash_password(PASSWORD)
        await store.create_org(ORG, frozenset({ADVANCED_USER_MANAGEMENT}))
        owner = await store.create_user(OWNER, f"{OWNER}@example.com", password_hash)
        await store.set_member(ORG, owner.id, OrgRole.OWNER)
        for i in range(members):
            name = f"member{i:04d}"
            user = await store.create_user(name, f"{name}@example.com", password_hash)
            await store.set_member(ORG, user.id, OrgRole.MEMBER)
            if i % 3 == 0:
                await store.set_mfa_secret(user.id, b"bench-only")
                await store.enable_mfa(user.id, time.time())
    finally:
        await store.close()


def measure(api_url: str, rounds: int) -> list[PageTimes]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        form = client.get("/sign-in")
        token = CSRF.search(form.text)
        if token is None:
            raise RuntimeError("the sign-in page has no CSRF token")
        signed = client.post(
            "/sign-in",
            data={"csrf": token.group(1), "username": OWNER, "password": PASSWORD},
        )
        if signed.status_code != 303 or signed.headers.get("location") != "/projects":
            raise RuntimeError(f"Console sign-in failed: {signed.status_code}")
        results = []
        for path in PAGES:
            client.get(path)  # warm
            times, size = [], 0
            for _ in range(rounds):
                began = time.perf_counter()
                page = client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                if page.status_code != 200:
                    raise RuntimeError(f"{path} answered {page.status_code}")
                size = len(page.content)
            results.append(
                PageTimes(path, rounds, percentile(times, 50), percentile(times, 99), size)
            )
        return results


def markdown(members: int, pages: list[PageTimes]) -> list[str]:
    if not pages:
        return []
    return [
        "",
        f"Console pages over HTTP, an org of {members} members, one request at a time:",
        "",
        "| page | requests | p50, ms | p99, ms | size, KiB |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| `{p.path}` | {p.n} | {p.p50:.1f} | {p.p99:.1f} | {p.bytes / 1024:.0f} |"
            for p in pages
        ),
        "",
    ]
