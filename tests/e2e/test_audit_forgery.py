"""The audit log against a stranger at a running gateway: a refused certificate's key ID
cannot forge an audit line, reach the operator's terminal, or pose as a user id, and a
flood of refused certificates from one address adds a bounded number of rows."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import asyncssh
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sshgate.ssh_gateway.refusals import AUDITED_PER_WINDOW
from tests.e2e.conftest import Deployment
from tests.support.deployment import sshgate, wait_until
from tests.support.rawclient import try_auth
from tests.vectors import builder

pytestmark = pytest.mark.e2e

HOSTILE_KEY_ID = "x\ntime=2026-01-01T00:00:00Z kind=shell decision=allow\x1b]0;owned\x07\u202e"
USER_KEY = asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="module")
def site(deployment: Deployment) -> Deployment:
    return deployment


def _refused_certificate(key_id: str, serial: int) -> bytes:
    subject = serialization.load_ssh_public_key(USER_KEY.export_public_key("openssh"))
    assert isinstance(subject, ed25519.Ed25519PublicKey)
    now = int(time.time())
    spec = builder.good_spec(
        serial=serial, subject=subject, key_id=key_id, valid_after=now - 60, valid_before=now + 600
    )
    return builder.build(spec, builder.untrusted_ca_key())


def _auth_rows(site: Deployment) -> int:
    with sqlite3.connect(site.root / "data" / "sshgate.db") as db:
        return int(db.execute("SELECT count(*) FROM audit WHERE kind = 'auth'").fetchone()[0])


def test_a_key_id_with_a_newline_and_an_osc_escape_does_not_forge_an_audit_line(
    site: Deployment,
) -> None:
    blob = _refused_certificate(HOSTILE_KEY_ID, serial=1)
    assert not asyncio.run(try_auth("127.0.0.1", site.gateway_port, "x", USER_KEY, blob))

    def audit_prose() -> str:
        return sshgate("admin", "audit", "--since", "5m", config=site.config).stdout

    # Refused authentication is audited in the background: the record follows the refusal.
    wait_until(lambda: "reason=untrusted-signer" in audit_prose(), timeout=10, interval=0.1)
    out = audit_prose()
    refusals = [line for line in out.splitlines() if "reason=untrusted-signer" in line]
    assert len(refusals) == 1, out
    (line,) = refusals
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert not any(line.startswith("time=2026-01-01") for line in out.splitlines())
    assert "user_id=" not in line  # an unverified key ID is never a user id
    # The detail is itself key=value text, quoted once more in the line.
    assert 'detail="unverified_key_id=\\"x\\\\ntime=2026-01-01T00:00:00Z' in line


def test_a_flood_of_refused_certificates_from_one_address_adds_a_bounded_number_of_rows(
    site: Deployment,
) -> None:
    before = _auth_rows(site)
    flood = AUDITED_PER_WINDOW + 40

    async def attack() -> int:
        refused = 0
        for serial in range(flood):
            blob = _refused_certificate("mallory", serial=100 + serial)
            refused += not await try_auth("127.0.0.1", site.gateway_port, "x", USER_KEY, blob)
        return refused

    assert asyncio.run(attack()) == flood
    # The records are written in the background: count once they stopped coming.
    counts = [_auth_rows(site)]
    while not (len(counts) > 5 and counts[-1] == counts[-6]):
        time.sleep(0.1)
        counts.append(_auth_rows(site))
    added = counts[-1] - before
    assert added <= AUDITED_PER_WINDOW, f"{added} rows for {flood} refusals"
