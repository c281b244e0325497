"""`sshgate serve` answers /healthz, /readyz and /metrics on metrics.listen, and the
counters show what a run did."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Deployment
from tests.support.deployment import Client


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_what_the_run_did(deployment: Deployment, alice: Client, bob: Client) -> None:
    base = f"http://127.0.0.1:{deployment.metrics_port}"
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    assert alice.ssh(deployment.service, "head -c 100000 /dev/zero").returncode == 0
    assert bob.ssh(deployment.service, "true").returncode == 1
    text = httpx.get(f"{base}/metrics", timeout=10).text
    assert _metric(text, "sshgate_gateway_connections_total") >= 2
    assert (
        _metric(text, "sshgate_gateway_decisions_total", decision="deny", rule="mfa-required") >= 1
    )
    assert _metric(text, "sshgate_gateway_decisions_total", decision="allow") >= 1
    assert _metric(text, "sshgate_gateway_relayed_bytes_total", direction="to_client") >= 100000
    assert _metric(text, "sshgate_gateway_upstream_connect_seconds_count") >= 1
