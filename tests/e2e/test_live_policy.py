"""Open sessions follow the live policy: switching "MFA required" on closes the sessions
of users without MFA within 10 seconds, with the documented message; compliant sessions
stay open."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import IO

from tests.e2e.conftest import Deployment
from tests.support.deployment import Client, wait_until

CLOSE_DEADLINE = 10.0
MARGIN = 5.0  # a loaded 2-core CI machine


def open_interactive(
    client: Client, service: str, options: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """An interactive shell through the gateway; returns once the environment answered.
    `options` go to ssh (a ControlPath, for a session through a ControlMaster)."""
    ssh, *rest = client.ssh_command(service, tty=True)
    proc = subprocess.Popen(
        [ssh, *options, *rest],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen = bytearray()
    stdout = proc.stdout
    threading.Thread(target=lambda: _pump(stdout, seen), daemon=True).start()
    proc.stdin.write(b"echo session-$((40+2))\n")
    proc.stdin.flush()
    assert wait_until(lambda: b"session-42" in seen, 30), "the session did not open"
    return proc


def _pump(stream: IO[bytes], into: bytearray) -> None:
    for chunk in iter(lambda: stream.read1(4096), b""):
        into.extend(chunk)


def test_switching_mfa_on_closes_non_compliant_sessions_only(
    deployment: Deployment, alice: Client, bob: Client
) -> None:
    d = deployment
    d.admin("org", "member", "opensrc", "alice", "--role", "member")
    d.admin("project", "grant", d.open_project, "alice", "--role", "contributor")
    bob_session = open_interactive(bob, d.open_service)
    alice_session = open_interactive(alice, d.open_service)
    try:
        assert bob_session.poll() is None and alice_session.poll() is None
        switched_at = time.monotonic()
        switched = d.admin("org", "mfa-required", "opensrc", "on")
        assert switched["sessions_to_close"] == 1  # bob's, not alice's
        bob_session.wait(timeout=CLOSE_DEADLINE + MARGIN)
        elapsed = time.monotonic() - switched_at
        assert elapsed < CLOSE_DEADLINE + MARGIN
        assert bob_session.returncode == 1
        err = bob_session.stderr.read().decode() if bob_session.stderr else ""
        assert "Error: Access denied\r\n" in err
        assert "\t - Multifactor authentication (MFA)\r\n" in err
        assert alice_session.poll() is None, "a compliant session must stay open"
        assert alice_session.stdin is not None
        alice_session.stdin.write(b"exit 0\n")
        alice_session.stdin.flush()
        assert alice_session.wait(timeout=20) == 0
    finally:
        d.admin("org", "mfa-required", "opensrc", "off")
        for proc in (bob_session, alice_session):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    records = d.admin("audit", "--since", "10m")["items"]
    assert any(
        r["decision"] == "close"
        and r["reason"] == "mfa-required"
        and r["user_id"] == d.users["bob"]
        for r in records
    )


def test_revoking_a_grant_closes_the_session_with_the_no_access_message(
    deployment: Deployment, bob: Client
) -> None:
    d = deployment
    session = open_interactive(bob, d.open_service)
    try:
        assert session.poll() is None
        d.admin("project", "revoke", d.open_project, "bob")
        session.wait(timeout=CLOSE_DEADLINE + MARGIN)
        assert session.returncode == 1
        err = session.stderr.read().decode() if session.stderr else ""
        assert "Error: The service doesn't exist or you do not have access to it.\r\n" in err
    finally:
        d.admin("project", "grant", d.open_project, "bob", "--role", "contributor")
        if session.poll() is None:
            session.kill()
            session.wait()
