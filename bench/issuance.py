"""Certificate issuance per second, two ways:

- through the HTTP API, as clients get certificates: `POST /api/ssh/certificate` to the
  running `sshgate serve --role all`, from concurrent httpx clients in this process, with
  the user's login session (amr pwd,mfa) as the bearer token; the gateway process's CPU is
  measured over the same interval;
- in process: `CertificateAuthority.issue` against the deployment's own store and key
  folder, one request after another, which leaves out HTTP, authentication and JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.processes import CpuMeter
from bench.stats import percentile
from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca.keys import KeyDir
from sshgate.config import load_config
from sshgate.store import StoreError, open_store

CERTIFICATE_PATH = "/api/ssh/certificate"
REQUEST_TIMEOUT = 30.0
WITH_MFA = ["pwd", "otp", "mfa"]


@dataclass(frozen=True)
class IssuanceResult:
    method: str
    concurrency: int
    issued: int
    errors: int
    seconds: float
    per_second: float
    p50: float
    p99: float
    server_cpu: float | None  # cores the sshgate process used; None when issued in process
    client_cpu: float  # cores this benchmark process used
    first_error: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Run:
    """Latencies and errors of one timed run, and the CPU it cost."""

    def __init__(self, seconds: float, server_pid: int | None = None) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._server = CpuMeter(server_pid) if server_pid else None
        self._client_cpu = time.process_time()
        self._start = time.perf_counter()
        self.deadline = self._start + seconds

    def running(self) -> bool:
        return time.perf_counter() < self.deadline

    def result(self, method: str, concurrency: int) -> IssuanceResult:
        elapsed = time.perf_counter() - self._start
        return IssuanceResult(
            method=method,
            concurrency=concurrency,
            issued=len(self.latencies),
            errors=len(self.errors),
            seconds=elapsed,
            per_second=len(self.latencies) / elapsed,
            p50=percentile(self.latencies, 50),
            p99=percentile(self.latencies, 99),
            server_cpu=self._server.share() if self._server else None,
            client_cpu=(time.process_time() - self._client_cpu) / elapsed,
            first_error=self.errors[0] if self.errors else "",
        )


class IssuanceRefused(Exception):
    """The API did not issue a certificate with `mfa` before the measurement started."""


async def _request(client: httpx.AsyncClient, body: dict[str, str]) -> dict[str, Any]:
    """One certificate; raise with a one-line reason when there is none."""
    response = await client.post(CERTIFICATE_PATH, json=body)
    if response.status_code != 200:
        raise IssuanceRefused(f"HTTP {response.status_code}: {response.text[:200]}")
    answer: dict[str, Any] = response.json()
    if not str(answer.get("certificate", "")).strip():
        raise IssuanceRefused("no certificate in the answer")
    return answer


async def api_issue_rate(
    api_url: str,
    token: str,
    public_key: str,
    concurrency: int,
    seconds: float,
    server_pid: int,
) -> IssuanceResult:
    """`concurrency` clients, each with its own keep-alive connection, posting requests
    back to back for `seconds`; every request signs the same Ed25519 public key."""
    body = {"key": public_key}
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=api_url,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=REQUEST_TIMEOUT,
                )
            )
            for _ in range(concurrency)
        ]
        amr = (await _request(clients[0], body)).get("amr")
        if amr != WITH_MFA:
            raise IssuanceRefused(f"the bearer's certificates carry amr {amr}, not {WITH_MFA}")
        run = _Run(seconds, server_pid)

        async def client_loop(client: httpx.AsyncClient) -> None:
            while run.running():
                began = time.perf_counter()
                try:
                    await _request(client, body)
                except (httpx.HTTPError, ValueError, IssuanceRefused) as exc:
                    run.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                run.latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(client_loop(client) for client in clients))
        return run.result(
            f"HTTP API: POST {CERTIFICATE_PATH} with the login session's bearer token (amr "
            f"pwd,mfa), {concurrency} concurrent httpx clients in the benchmark process, each "
            "on one keep-alive connection, one Ed25519 public key reused for every request",
            concurrency,
        )


async def issue_rate(
    config_path: Path, username: str, public_key: str, seconds: float
) -> IssuanceResult:
    config = load_config(config_path, env={})
    store = await open_store(config.storage.url, str(config.base_dir))
    try:
        user = await store.get_user_by_name(username)
        if user is None:
            raise LookupError(f"user {username} not in the store")
        authority = CertificateAuthority(KeyDir(config.ca.key_dir), store, CAPolicy())
        run = _Run(seconds)
        while run.running():
            began = time.perf_counter()
            try:
                await authority.issue(
                    user, public_key, ("pwd", "otp", "mfa"), int(time.time()), str(uuid.uuid4())
                )
            except StoreError as exc:
                run.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            run.latencies.append(time.perf_counter() - began)
        return run.result(
            "in process: CertificateAuthority.issue against the deployment's store, one after "
            "another, same public key; no HTTP, authentication or JSON",
            1,
        )
    finally:
        await store.close()
