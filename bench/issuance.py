"""Certificate issuance per second, in process: `CertificateAuthority.issue` against the
deployment's own store and key folder, one request after another. The HTTP API
(`POST /api/ssh/certificate`) was not ready when this was written: its request parsing,
authentication and JSON are not in this number."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import percentile
from sshgate.ca.authority import CAPolicy, CertificateAuthority
from sshgate.ca.keys import KeyDir
from sshgate.config import load_config
from sshgate.store import StoreError, open_store

METHOD = (
    "in process, CertificateAuthority.issue against the deployment's store; not through "
    "the HTTP API (POST /api/ssh/certificate is not measured yet)"
)


@dataclass(frozen=True)
class IssuanceResult:
    issued: int
    errors: int
    seconds: float
    per_second: float
    p50: float
    p99: float
    method: str = METHOD

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def issue_rate(
    config_path: Path, username: str, public_key: str, seconds: float
) -> IssuanceResult:
    config = load_config(config_path, env={})
    store = await open_store(config.storage.url, str(config.base_dir))
    latencies: list[float] = []
    errors = 0
    try:
        user = await store.get_user_by_name(username)
        if user is None:
            raise LookupError(f"user {username} not in the store")
        authority = CertificateAuthority(KeyDir(config.ca.key_dir), store, CAPolicy())
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                await authority.issue(
                    user, public_key, ("pwd", "mfa"), int(time.time()), str(uuid.uuid4())
                )
            except StoreError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - start
    finally:
        await store.close()
    return IssuanceResult(
        issued=len(latencies),
        errors=errors,
        seconds=elapsed,
        per_second=len(latencies) / elapsed,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
    )
