"""Brute force and abuse against a running deployment: password guessing over many HTTP
connections is throttled per username and per client address, TOTP guessing locks the
second factor, and a flood of half-open TCP connections does not keep a legitimate user out.
Against a network attacker in the middle: the gateway's key exchange is the strict one
(Terrapin, CVE-2023-48795).

Covered elsewhere, and not repeated here: the gateway offers no password or
keyboard-interactive authentication at all (test_certificate_rules.py::
test_passwords_and_keyboard_interactive_are_not_offered), and refused keys per SSH
connection are capped (test_limits.py::
test_max_auth_attempts_closes_the_connection_after_that_many_refused_keys).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pyotp
import pytest

from sshgate.config import GatewayConfig
from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.support.deployment import Client, log_count, raw_connection, ssh_with, wait_until

pytestmark = pytest.mark.e2e

FAILURE_LIMIT = 10  # README: after 10 failed passwords, one attempt per minute
CODE_LIMIT = 5  # README: five wrong codes lock the second factor for 15 minutes


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # The gateway's connection limits are left at their defaults: those are what a
    # deployment that never tuned them gets.
    d = start_deployment(tmp_path_factory.mktemp("abuse"))
    for name in ("target", "bystander", "walker", "totpuser"):
        d.add_user(name)
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


def login(
    d: Deployment, username: str, password: str, source: str, totp: str | None = None
) -> httpx.Response:
    """One login attempt on a connection of its own, from loopback address `source`."""
    body = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(
        base_url=f"http://127.0.0.1:{d.api_port}", transport=transport, timeout=30
    ) as http:
        return http.post("/api/auth/login", json=body)


# --- passwords -------------------------------------------------------------------------------


def test_password_guessing_for_one_username_is_throttled_from_any_address(
    deployment: Deployment,
) -> None:
    d = deployment
    # Each guess from another address, so that only the username's count can trip.
    for n in range(FAILURE_LIMIT):
        refused = login(d, "target", f"guess {n}", f"127.0.1.{n + 1}")
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_credentials"
    # Now even the right password, from a fresh address, waits its turn.
    throttled = login(d, "target", PASSWORD, "127.0.1.100")
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "throttled"
    assert 0 < int(throttled.headers["retry-after"]) <= 60
    # Only that username: another user logs in from the same fresh address.
    assert login(d, "bystander", PASSWORD, "127.0.1.100").status_code == 200


def test_password_guessing_from_one_address_is_throttled_for_every_username(
    deployment: Deployment,
) -> None:
    d = deployment
    guesser = "127.0.2.1"
    # Ten different usernames (some exist, most do not): only the address's count trips.
    names = ["walker", *(f"nobody{n}" for n in range(FAILURE_LIMIT - 1))]
    for name in names:
        refused = login(d, name, "not the password", guesser)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_credentials"
    throttled = login(d, "walker", PASSWORD, guesser)
    assert throttled.status_code == 429 and throttled.json()["error"] == "throttled"
    assert 0 < int(throttled.headers["retry-after"]) <= 60
    # The same user from another address is not affected: no lock a stranger could use.
    assert login(d, "walker", PASSWORD, "127.0.2.2").status_code == 200


# --- the second factor -----------------------------------------------------------------------


def test_totp_guessing_locks_the_second_factor_even_for_the_right_code(
    deployment: Deployment,
) -> None:
    d = deployment
    source = "127.0.3.1"
    session = login(d, "totpuser", PASSWORD, source)
    assert session.status_code == 200
    bearer = {"Authorization": f"Bearer {session.json()['token']}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}", timeout=30) as http:
        setup = http.post("/api/account/mfa/setup", headers=bearer)
        assert setup.status_code == 200, setup.text
        totp = pyotp.TOTP(setup.json()["secret"])
        verify = http.post("/api/account/mfa/verify", json={"code": totp.now()}, headers=bearer)
        assert verify.status_code == 200, verify.text

    def wrong_code() -> str:
        now = time.time()
        valid = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}
        return next(code for code in ("000000", "111111", "222222") if code not in valid)

    for _ in range(CODE_LIMIT - 1):
        refused = login(d, "totpuser", PASSWORD, source, totp=wrong_code())
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_code"
    locked = login(d, "totpuser", PASSWORD, source, totp=wrong_code())
    assert locked.status_code == 429 and locked.json()["error"] == "second_factor_locked"
    assert int(locked.headers["retry-after"]) == 15 * 60
    # Locked means locked: the right code (of the next time step, not yet spent) is refused.
    right = login(d, "totpuser", PASSWORD, source, totp=totp.at(time.time() + 30))
    assert right.status_code == 429 and right.json()["error"] == "second_factor_locked"


# --- a flood of half-open connections --------------------------------------------------------

FLOOD = 300
FLOOD_SOURCES = [f"127.0.0.{n}" for n in range(2, 10)]
# A legitimate connection takes well under a second here; the margin is for a loaded
# 2-core machine. A connection that had to wait for the flood's login timeout (30 s) or
# was refused fails this.
LEGITIMATE_DEADLINE = 15.0


def refusals(d: Deployment) -> int:
    return log_count(d.server, "connection_closed", "reason=max-per-source") + log_count(
        d.server, "connection_closed", "reason=max-unauthenticated"
    )


def test_a_flood_of_half_open_connections_does_not_keep_a_user_out(
    deployment: Deployment, alice: Client
) -> None:
    d = deployment
    defaults = GatewayConfig()
    refused_before = refusals(d)
    flood: list[socket.socket] = []
    try:
        # Each socket connects and sends nothing; it is counted once the gateway has sent
        # its version line (raw_connection waits for it).
        for n in range(FLOOD):
            flood.append(raw_connection(d.gateway_port, FLOOD_SOURCES[n % len(FLOOD_SOURCES)]))
        # The gateway refused what is beyond its limits (and logged each refusal).
        admitted = min(defaults.max_unauthenticated, len(FLOOD_SOURCES) * defaults.max_per_source)
        assert wait_until(lambda: refusals(d) - refused_before >= FLOOD - admitted, 10)
        started = time.monotonic()
        result = alice.ssh(d.service, "echo in", timeout=LEGITIMATE_DEADLINE + 30)
        elapsed = time.monotonic() - started
        assert result.returncode == 0 and result.stdout == b"in\n", result.stderr
        assert elapsed < LEGITIMATE_DEADLINE
    finally:
        for sock in flood:
            sock.close()


# --- a network attacker ----------------------------------------------------------------------


def test_the_gateway_negotiates_strict_key_exchange_with_the_stock_client(
    deployment: Deployment, alice: Client
) -> None:
    # Terrapin (CVE-2023-48795) truncates the start of the encrypted stream unnoticed unless
    # both ends use strict key exchange (OpenSSH 9.6, and Debian's 9.2p1-2+deb12u2).
    result = ssh_with(alice, deployment.service, "true", options=("-vvv",))
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.decode(errors="replace")
    if "kex-strict-c-v00@openssh.com" not in stderr:
        pytest.skip("this OpenSSH client predates strict key exchange")
    assert "will use strict KEX ordering" in stderr


def test_the_gateway_offers_no_cbc_cipher(deployment: Deployment, alice: Client) -> None:
    # The gateway leaves out asyncssh's per-packet CBC countermeasure (an ignore packet ahead
    # of each packet, sshgate/ssh_gateway/_packet_economy.py); that is sound because no
    # CBC cipher can be negotiated with it.
    result = ssh_with(alice, deployment.service, "true", options=("-c", "aes128-cbc,aes256-cbc"))
    assert result.returncode == 255
    assert b"no matching cipher found" in result.stderr
