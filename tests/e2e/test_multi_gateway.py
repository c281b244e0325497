"""Several `sshgate serve` processes on one PostgreSQL database, as behind a load balancer.

A is the usual deployment (role all); B is a second `sshgate serve` (role all) on its own
ports; C is a gateway (role gateway) with the PROXY protocol on, reached through a relay that
does what HAProxy's `send-proxy-v2` does. All three run from one data dir (the same keys,
so one host key) with SSHGATE_STORAGE_URL naming the test database, as `sshgate admin` does.

The database is a cluster of this module's own: the last test stops it, which must not
disturb the store tests that share the session's cluster.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from sshgate.authority import CAPolicy, CertificateAuthority
from sshgate.ca.certificate import parse_certificate
from sshgate.ca.keys import KeyDir
from sshgate.ssh_gateway.gateway import STORE_LOST, STORE_OUTAGE_GRACE
from sshgate.store import PostgresStore
from sshgate.store._rows import serial_from_db
from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.e2e.test_live_policy import open_interactive
from tests.e2e.test_login_flow import User, code_after
from tests.support import fleet as fleet_probes
from tests.support.deployment import (
    Client,
    Server,
    log_count,
    raw_connection,
    wait_until,
)
from tests.support.fleet import Ports, ProxyRelay, api, certify, host_key_of, readyz
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.e2e

NEXT_CONNECTION_DEADLINE = 1.0  # README: "through every gateway within a second"
CLOSE_DEADLINE = 10.0
MARGIN = 2.0  # a loaded 2-core CI machine
CERTIFICATES = 1000
CONCURRENCY = 50
FAKE_CLIENT = ("10.1.2.3", 40022)
MFA_LINES = ("Error: Access denied\n", "\t - Multifactor authentication (MFA)\n")
STORE_UNAVAILABLE = "sshgate: access cannot be checked right now; try again later"


@dataclass
class Fleet:
    d: Deployment
    a: Ports
    b: Server
    b_ports: Ports
    c: Server
    c_ports: Ports
    relay: ProxyRelay
    cluster: PostgresCluster
    url: str
    people: Path

    def client(self, name: str, port: int) -> Client:
        home = self.d.root / "clients" / f"{name}-{port}"
        return Client(name, home, port, self.d.gateway_host_key())


@pytest.fixture(scope="module")
def fleet(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A, B and C on a PostgreSQL server of this module's own; all stopped at the end."""
    with contextlib.ExitStack() as stack:
        cluster = PostgresCluster.create(postgres_cluster.bindir)
        stack.callback(cluster.remove)
        cluster.start()
        url = asyncio.run(cluster.create_database())
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("SSHGATE_STORAGE_URL", url)  # every serve process and `sshgate admin`
        d = start_deployment(tmp_path_factory.mktemp("fleet"))
        stack.callback(d.env.stop)
        stack.callback(d.server.stop)
        a_metrics = int(d.server.env["SSHGATE_METRICS_LISTEN"].rsplit(":", 1)[1])
        a = Ports(d.gateway_port, d.api_port, a_metrics)
        b_ports = Ports.free()
        b = Server(d.config, b_ports.overrides())
        stack.callback(b.stop)
        b.start()
        c_ports = Ports.free()
        c = Server(
            d.config,
            {
                **c_ports.overrides(),
                "SSHGATE_GATEWAY_PROXY_PROTOCOL": "true",
                "SSHGATE_GATEWAY_PROXY_PROTOCOL_TRUSTED": "127.0.0.2/32",
            },
            role="gateway",
        )
        stack.callback(c.stop)
        c.start()
        relay = ProxyRelay(c_ports.gateway, client=FAKE_CLIENT, source="127.0.0.2")
        stack.callback(relay.close)
        people = tmp_path_factory.mktemp("people")
        yield Fleet(d, a, b, b_ports, c, c_ports, relay, cluster, url, people)


# --- helpers ---------------------------------------------------------------------------------


def login(port: int, username: str, totp: str | None = None) -> httpx.Response:
    return fleet_probes.login(port, username, PASSWORD, totp)


def token_for(port: int, username: str) -> str:
    return fleet_probes.token_for(port, username, PASSWORD)


def out(result: object) -> dict[str, object]:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined,no-any-return]


def add_user(d: Deployment, name: str) -> None:
    created = d.admin(
        "user", "add", name, "--email", f"{name}@example.com", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    d.users[name] = str(created["id"])


# --- the tests -------------------------------------------------------------------------------


def test_every_gateway_of_one_data_dir_shows_the_same_host_key(fleet: Fleet) -> None:
    expected = fleet.d.gateway_host_key()
    assert host_key_of(fleet.a.gateway) == expected
    assert host_key_of(fleet.b_ports.gateway) == expected
    assert host_key_of(fleet.relay.port) == expected  # C, behind the balancer
    authority = httpx.get(f"{api(fleet.b_ports.api)}/api/ssh/authority", timeout=10).json()
    assert authority["gateway"]["host_keys"] == [expected]


def test_mfa_switched_on_through_a_refuses_the_next_connection_on_b_and_closes_its_session(
    fleet: Fleet,
) -> None:
    d = fleet.d
    d.admin("org", "mfa-required", "acme", "off")
    add_user(d, "olga")
    d.admin("org", "member", "acme", "olga", "--role", "owner")
    # The owner, a real user of A's API: MFA on her own account first, then a login with it.
    olga = User(d, "olga", fleet.people)
    olga.json("login", "--user", "olga", "--password-stdin", stdin=PASSWORD + "\n")
    secret = olga.json("mfa", "setup")["secret"]
    used: set[int] = set()
    olga.json("mfa", "verify", code_after(secret, used))
    olga.json(
        "login", "-f", "--password-stdin", "--totp", code_after(secret, used),
        stdin=PASSWORD + "\n",
    )  # fmt: skip

    # Bob, without MFA, with a certificate from B's API, connects through B's gateway.
    bob = fleet.client("bob", fleet.b_ports.gateway)
    certify(fleet.b_ports.api, token_for(fleet.b_ports.api, "bob"), bob)
    before = bob.ssh(d.service, "true")
    assert before.returncode == 0, before.stderr
    session = open_interactive(bob, d.service)
    closed_at: list[float] = []
    waiter = threading.Thread(target=lambda: (session.wait(), closed_at.append(time.monotonic())))
    waiter.start()
    try:
        sent_at = time.monotonic()
        switched = out(olga.sshgate("org", "mfa-required", "acme", "on", "--json"))
        switched_at = time.monotonic()
        assert switched == {
            "org": "acme",
            "mfa_required": True,
            "mfa_level": "any",
            "sessions_to_close": 1,
        }

        refused = bob.ssh(d.service, "true")
        refused_after = time.monotonic() - switched_at
        err = refused.stderr.decode()
        assert refused.returncode == 1 and all(line in err for line in MFA_LINES), err
        print(f"\nB refused the next connection {refused_after:.3f} s after the switch returned")
        assert refused_after < NEXT_CONNECTION_DEADLINE + MARGIN

        waiter.join(timeout=CLOSE_DEADLINE + MARGIN)
        assert closed_at, "the open session on B was not closed"
        # NOTIFY is delivered at the commit, before the command returns: count from its start.
        closed_after = closed_at[0] - sent_at
        print(
            f"B closed the open session {closed_after:.3f} s after the switch command started"
            f" (which took {switched_at - sent_at:.3f} s)"
        )
        assert closed_after < CLOSE_DEADLINE + MARGIN
        assert session.returncode == 1
        session_err = session.stderr.read().decode() if session.stderr else ""
        assert "Error: Access denied\r\n" in session_err
        assert "\t - Multifactor authentication (MFA)\r\n" in session_err
    finally:
        if session.poll() is None:
            session.kill()
        waiter.join(timeout=10)
    # B heard of it from PostgreSQL (NOTIFY), not only from its one-second poll.
    assert log_count(fleet.b, "policy_changed", "via=notify") >= 1, fleet.b.log()


def test_one_totp_code_sent_to_both_apis_at_once_is_accepted_by_exactly_one(
    fleet: Fleet,
) -> None:
    add_user(fleet.d, "dora")
    token = token_for(fleet.a.api, "dora")
    bearer = {"Authorization": f"Bearer {token}"}
    setup = httpx.post(f"{api(fleet.a.api)}/api/account/mfa/setup", headers=bearer, timeout=30)
    secret = setup.json()["secret"]
    used: set[int] = set()
    verified = httpx.post(
        f"{api(fleet.a.api)}/api/account/mfa/verify",
        json={"code": code_after(secret, used)},
        headers=bearer,
        timeout=30,
    )
    assert verified.status_code == 200, verified.text
    code = code_after(secret, used)

    start = threading.Barrier(2)
    answers: dict[int, httpx.Response] = {}

    def attempt(port: int) -> None:
        start.wait()
        answers[port] = login(port, "dora", totp=code)

    threads = [
        threading.Thread(target=attempt, args=(p,)) for p in (fleet.a.api, fleet.b_ports.api)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(r.status_code for r in answers.values())
    assert statuses == [200, 401], {p: r.text for p, r in answers.items()}
    [loser] = [r for r in answers.values() if r.status_code == 401]
    assert loser.json()["error"] == "invalid_code"


def test_a_thousand_certificates_issued_through_both_apis_have_distinct_serials(
    fleet: Fleet,
) -> None:
    token = token_for(fleet.a.api, "carol")
    key = fleet.client("carol", fleet.a.gateway).public_key

    async def issue_all() -> list[tuple[int, str]]:
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=60) as http:

            async def one(i: int) -> tuple[int, str]:
                port = (fleet.a.api, fleet.b_ports.api)[i % 2]
                async with gate:
                    response = await http.post(
                        f"{api(port)}/api/ssh/certificate", json={"key": key}
                    )
                assert response.status_code == 200, response.text
                body = response.json()
                return int(body["serial"]), str(body["certificate"])

            return await asyncio.gather(*(one(i) for i in range(CERTIFICATES)))

    started = time.monotonic()
    issued = asyncio.run(issue_all())
    print(f"\n{CERTIFICATES} certificates in {time.monotonic() - started:.1f} s")
    serials = [serial for serial, _ in issued]
    assert len(set(serials)) == CERTIFICATES
    for serial, certificate in issued:
        assert parse_certificate(base64.b64decode(certificate.split()[1])).serial == serial

    async def ledger() -> tuple[int, int, set[int]]:
        conn = await asyncpg.connect(fleet.url)
        try:
            rows = await conn.fetch(
                "SELECT serial FROM certificates WHERE user_id = $1", fleet.d.users["carol"]
            )
        finally:
            await conn.close()
        found = {serial_from_db(int(r["serial"])) for r in rows}
        return len(rows), len(found), found

    count, distinct, recorded = asyncio.run(ledger())
    assert count == distinct == CERTIFICATES
    assert recorded == set(serials)


def _certificate_bound_to(fleet: Fleet, client: Client, username: str, source: str) -> None:
    async def issue() -> None:
        store = await PostgresStore.open(fleet.url)
        try:
            user = await store.get_user_by_name(username)
            assert user is not None
            policy = CAPolicy(bind_source_address=True)
            ca = CertificateAuthority(KeyDir(fleet.d.root / "data" / "ca"), store, policy)
            issued = await ca.issue(
                user, client.public_key, ("pwd",), int(time.time()), str(uuid.uuid4()),
                client_address=source,
            )  # fmt: skip
        finally:
            await store.close()
        client.cert.write_text(issued.certificate + "\n")

    asyncio.run(issue())


def test_behind_the_balancer_the_proxy_header_is_the_client_address(fleet: Fleet) -> None:
    d = fleet.d
    bob = fleet.client("bob", fleet.relay.port)
    _certificate_bound_to(fleet, bob, "bob", f"{FAKE_CLIENT[0]}/32")

    # Through the balancer: the certificate's source-address matches the header's client.
    through = bob.ssh(d.open_service, "echo via-the-balancer")
    assert through.returncode == 0, through.stderr
    assert through.stdout == b"via-the-balancer\n"
    records = d.admin("audit", "--since", "10m", "--user", "bob")["items"]
    assert isinstance(records, list)
    mine = [r for r in records if r["service"] == d.open_service and r["decision"] == "allow"]
    assert mine and {r["client"] for r in mine} == {FAKE_CLIENT[0]}, mine

    # Straight to A (no PROXY protocol there): the client is 127.0.0.1, which it is not for.
    direct = Client("bob", bob.home, fleet.a.gateway, d.gateway_host_key())
    refused = direct.ssh(d.open_service, "true")
    assert refused.returncode == 255 and b"Permission denied" in refused.stderr

    # Straight to C from 127.0.0.1, an untrusted peer: dropped before SSH starts.
    untrusted = Client("bob", bob.home, fleet.c_ports.gateway, d.gateway_host_key())
    dropped = untrusted.ssh(d.open_service, "true")
    assert dropped.returncode == 255 and b"Permission denied" not in dropped.stderr
    with socket.create_connection(("127.0.0.1", fleet.c_ports.gateway), timeout=10) as sock:
        assert sock.recv(256) == b""  # not even a version line
    # From the trusted address but without a header: dropped too.
    with socket.create_connection(
        ("127.0.0.1", fleet.c_ports.gateway), timeout=10, source_address=("127.0.0.2", 0)
    ) as sock:
        sock.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(4096):
                pass
    assert wait_until(
        lambda: log_count(fleet.c, "connection_closed", "reason=proxy-header-malformed") >= 1, 10
    )
    assert log_count(fleet.c, "connection_closed", "reason=proxy-untrusted-peer") >= 2
    assert log_count(fleet.c, "authenticated", f"client={FAKE_CLIENT[0]}") >= 1


def test_without_the_database_new_sessions_are_refused_and_readyz_says_so(
    fleet: Fleet,
) -> None:
    """Last: it stops the module's PostgreSQL server, then starts it again."""
    d = fleet.d
    alice = fleet.client("alice", fleet.b_ports.gateway)
    certify(fleet.b_ports.api, token_for(fleet.b_ports.api, "alice"), alice)
    assert alice.ssh(d.open_service, "true").returncode == 1  # not a member of opensrc
    d.admin("org", "member", "opensrc", "alice", "--role", "member")
    d.admin("project", "grant", d.open_project, "alice", "--role", "contributor")
    assert alice.ssh(d.open_service, "true").returncode == 0
    metrics = (fleet.a.metrics, fleet.b_ports.metrics, fleet.c_ports.metrics)
    assert [readyz(p) for p in metrics] == [200, 200, 200]

    session = open_interactive(alice, d.open_service)
    try:
        fleet.cluster.stop()
        stopped_at = time.monotonic()
        try:
            assert wait_until(lambda: [readyz(p) for p in metrics] == [503, 503, 503], 15)
            refused = alice.ssh(d.open_service, "true")
            assert refused.returncode == 255, refused
            assert STORE_UNAVAILABLE in refused.stderr.decode(), refused.stderr
            with contextlib.closing(raw_connection(fleet.b_ports.gateway)):
                pass  # the listener itself is up: it refuses by deciding, not by vanishing
            assert log_count(fleet.b, "readiness", "state=not-ready") >= 1
            assert login(fleet.a.api, "alice").status_code == 503
            # A blip does not cut open sessions; an outage longer than the grace period does.
            assert session.poll() is None
            session.wait(timeout=STORE_OUTAGE_GRACE + 1 + MARGIN)
            closed_after = time.monotonic() - stopped_at
            print(f"\nthe open session was closed {closed_after:.1f} s into the outage")
            assert closed_after > STORE_OUTAGE_GRACE - 1
            assert STORE_LOST in (session.stderr.read().decode() if session.stderr else "")
        finally:
            fleet.cluster.start()
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()

    # Nothing restarted: the processes reconnect by themselves.
    assert wait_until(lambda: [readyz(p) for p in metrics] == [200, 200, 200], 30)
    again = alice.ssh(d.open_service, "true")
    assert again.returncode == 0, again.stderr
