"""Prometheus metrics for every `sshgate serve` role, in one dedicated registry.

A dedicated `REGISTRY` (not prometheus_client's global one) keeps /metrics to sshgate's own
series, and lets tests read values without other libraries' collectors in the way. The
gateway and the CA call the functions below; `sshgate.health` serves `REGISTRY`.

Label values come from fixed sets (rule names, request kinds, refusal reasons), never from
what a client sent, so a hostile client cannot grow the number of series.

With gateway worker processes (`gateway.workers` > 1, see `sshgate.workers`) every process
writes its values to files in a shared folder (prometheus_client's multiprocess mode, chosen
by PROMETHEUS_MULTIPROC_DIR when prometheus_client is first imported), and the main process
serves the sum of them all (`all_processes`). Gauges say how to add up: `livesum` counts the
processes that run now; counters keep what exited processes counted.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

REGISTRY = CollectorRegistry(auto_describe=True)

_CONNECTIONS = Counter(
    "sshgate_gateway_connections",
    "TCP connections accepted by the SSH gateway.",
    registry=REGISTRY,
)
_CONNECTIONS_OPEN = Gauge(
    "sshgate_gateway_connections_open",
    "SSH gateway connections open now, authenticated or not.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
_LIMIT_CLOSURES = Counter(
    "sshgate_gateway_limit_closures",
    "Connections and sessions the gateway closed because of a limit, by reason: "
    "max-unauthenticated, max-per-source, login-timeout, max-auth-attempts, idle-timeout, "
    "draining.",
    ["reason"],
    registry=REGISTRY,
)
_AUTH_REFUSALS = Counter(
    "sshgate_gateway_auth_refusals",
    "Refused certificates, by the name of the check that refused them.",
    ["rule"],
    registry=REGISTRY,
)
_AUTH_REFUSALS_UNAUDITED = Counter(
    "sshgate_gateway_auth_refusals_unaudited",
    "Refused certificates past a source's audit budget: counted here and summed up in one "
    "rate-limited audit row per source and window instead of a row each.",
    registry=REGISTRY,
)
_DECISIONS = Counter(
    "sshgate_gateway_decisions",
    "Policy decisions on session and forwarding requests.",
    ["kind", "decision", "rule"],
    registry=REGISTRY,
)
_ACTIVE_SESSIONS = Gauge(
    "sshgate_gateway_active_sessions",
    "Sessions and forwarded connections being relayed to environments now.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
_RELAYED_BYTES = Counter(
    "sshgate_gateway_relayed_bytes",
    "Bytes relayed between clients and environments.",
    ["direction"],
    registry=REGISTRY,
)
_UPSTREAM_CONNECT = Histogram(
    "sshgate_gateway_upstream_connect_seconds",
    "Time to connect and log in to an environment's sshd.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
    registry=REGISTRY,
)
_UPSTREAM_REUSED = Counter(
    "sshgate_gateway_upstream_reused",
    "Upstream connections reused from the same user's previous client connection.",
    registry=REGISTRY,
)
_CERTIFICATES_ISSUED = Counter(
    "sshgate_ca_certificates_issued",
    "User certificates signed by the CA.",
    registry=REGISTRY,
)
_API_REFUSED = Counter(
    "sshgate_api_connections_refused",
    "HTTP connections the API closed as soon as they were accepted (before any TLS handshake),"
    " by reason: max_connections (api.max_connections) or descriptor_reserve (too few free"
    " descriptors).",
    ["reason"],
    registry=REGISTRY,
)

# Bound once: the relay counts every chunk, and `.labels()` per chunk would cost a lookup.
_TO_ENVIRONMENT = _RELAYED_BYTES.labels(direction="to_environment")
_TO_CLIENT = _RELAYED_BYTES.labels(direction="to_client")


def all_processes(folder: str) -> CollectorRegistry:
    """What /metrics serves in the main process when worker processes share `folder`
    (PROMETHEUS_MULTIPROC_DIR): the values of every process, its own included."""
    registry = CollectorRegistry(auto_describe=True)
    multiprocess.MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]
    return registry


def process_exited(pid: int, folder: str) -> None:
    """A worker process that shared `folder` has exited: its gauges no longer count."""
    multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


def connection_accepted() -> None:
    _CONNECTIONS.inc()


def connections_open(count: int) -> None:
    _CONNECTIONS_OPEN.set(count)


def limit_reached(reason: str) -> None:
    _LIMIT_CLOSURES.labels(reason=reason).inc()


def auth_refused(rule: str) -> None:
    _AUTH_REFUSALS.labels(rule=rule).inc()


def auth_refusal_unaudited() -> None:
    _AUTH_REFUSALS_UNAUDITED.inc()


def decision(kind: str, outcome: str, rule: str) -> None:
    """`outcome`: allow, deny or close (an open session closed by live policy)."""
    _DECISIONS.labels(kind=kind, decision=outcome, rule=rule).inc()


def active_sessions(count: int) -> None:
    _ACTIVE_SESSIONS.set(count)


def bytes_to_environment(count: int) -> None:
    _TO_ENVIRONMENT.inc(count)


def bytes_to_client(count: int) -> None:
    _TO_CLIENT.inc(count)


def upstream_connected(seconds: float, ok: bool) -> None:
    _UPSTREAM_CONNECT.labels(outcome="ok" if ok else "failed").observe(seconds)


def upstream_reused() -> None:
    _UPSTREAM_REUSED.inc()


def api_connection_refused(reason: str) -> None:
    _API_REFUSED.labels(reason=reason).inc()


def certificate_issued() -> None:
    """For the CA: call once per user certificate signed."""
    _CERTIFICATES_ISSUED.inc()


__all__ = [
    "REGISTRY",
    "active_sessions",
    "all_processes",
    "auth_refusal_unaudited",
    "auth_refused",
    "bytes_to_client",
    "bytes_to_environment",
    "certificate_issued",
    "connection_accepted",
    "connections_open",
    "decision",
    "limit_reached",
    "process_exited",
    "upstream_connected",
]
