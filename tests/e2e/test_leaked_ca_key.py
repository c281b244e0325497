"""The "A leaked CA key" runbook of docs/operations.md, followed step by step against a
running deployment: certificates forged with sshgate's own CA key are refused (never
issued), a `ca.trusted_public_keys` CA's certificates are revoked by serial and by user, and
a distrusted key is refused by the gateway within a second."""

from __future__ import annotations

import asyncio
import base64
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sshgate.ca.keys import KeyDir, fingerprint, load_private_key, public_key_line
from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import Client, open_session, wait_until
from tests.support.rawclient import try_auth
from tests.vectors import builder

pytestmark = pytest.mark.e2e

DAY = 86400
CLOSE_DEADLINE = 10.0  # open sessions that no longer comply close within 10 s (README)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("leaked-ca")
    partner = root / "partner_ca.pub"
    partner.write_text(public_key_line(PARTNER_CA.public_key()) + " partner\n")
    with pytest.MonkeyPatch.context() as env:
        # For the server and the admin commands alike, as a line in config.toml would be.
        env.setenv("SSHGATE_CA_TRUSTED_PUBLIC_KEYS", str(partner))
        d = start_deployment(root)
        d.enable_mfa("alice")  # acme requires MFA: alice's sessions need it
        try:
            yield d
        finally:
            d.server.stop()
            d.env.stop()


PARTNER_CA = ed25519.Ed25519PrivateKey.generate()
USER_KEY = asyncssh.generate_private_key("ssh-ed25519")


def _subject() -> ed25519.Ed25519PublicKey:
    data = USER_KEY.export_public_key("openssh")
    key = serialization.load_ssh_public_key(data)
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return key


def certificate(
    site: Deployment,
    signer: ed25519.Ed25519PrivateKey,
    serial: int,
    lifetime: int = 3600,
    user: str = "alice",
) -> bytes:
    """A certificate for `user` as sshgate's CA would shape it, signed by `signer`."""
    user_id = site.users[user]
    now = int(time.time())
    spec = builder.good_spec(
        serial=serial,
        subject=_subject(),
        key_id=user_id,
        principals=(user,),
        valid_after=now - 60,
        valid_before=now + lifetime,
        extensions=builder.standard_extensions(builder.claims_json(sub=user_id), True),
    )
    return builder.build(spec, signer)


def accepted(site: Deployment, blob: bytes) -> bool:
    return asyncio.run(try_auth("127.0.0.1", site.gateway_port, site.service, USER_KEY, blob))


def _last_reason(site: Deployment) -> str | None:
    with sqlite3.connect(site.root / "data" / "sshgate.db") as db:
        row = db.execute(
            "SELECT reason FROM audit WHERE kind = 'auth' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return None if row is None else str(row[0])


def last_refusal(site: Deployment, expected: str) -> str | None:
    """The reason of the newest refusal, once it is `expected` or after a few seconds:
    refused authentication is audited in the background."""
    wait_until(lambda: _last_reason(site) == expected, timeout=5, interval=0.02)
    return _last_reason(site)


def active_ca(site: Deployment) -> tuple[ed25519.Ed25519PrivateKey, str]:
    path, _ = KeyDir(site.root / "data" / "ca").active()
    key = load_private_key(path)
    return key, fingerprint(key.public_key())


def issued_certificate(site: Deployment) -> bytes:
    """A certificate the CA really issued (in the ledger) for USER_KEY."""
    client = site.client("alice")
    client.key.write_bytes(USER_KEY.export_private_key("openssh"))
    client.key.chmod(0o600)
    Path(f"{client.key}.pub").write_bytes(USER_KEY.export_public_key("openssh"))
    site.issue(client, "alice", ("pwd", "otp", "mfa"))
    return base64.b64decode(client.cert.read_text().split()[1])


def test_a_certificate_forged_with_sshgates_own_ca_key_is_refused_as_not_issued(
    site: Deployment,
) -> None:
    ca_key, _ = active_ca(site)
    assert accepted(site, issued_certificate(site))
    forged = certificate(site, ca_key, serial=secrets.randbits(63), lifetime=30 * DAY)
    assert not accepted(site, forged)
    assert last_refusal(site, "validity-too-long") == "validity-too-long"
    forged = certificate(site, ca_key, serial=secrets.randbits(63))
    assert not accepted(site, forged)
    assert last_refusal(site, "not-issued") == "not-issued"


def test_no_gateway_accepts_a_trusted_ca_certificate_valid_longer_than_the_maximum(
    site: Deployment,
) -> None:
    assert accepted(site, certificate(site, PARTNER_CA, serial=7, lifetime=DAY))
    assert not accepted(site, certificate(site, PARTNER_CA, serial=8, lifetime=30 * DAY))
    assert last_refusal(site, "validity-too-long") == "validity-too-long"


def test_a_trusted_ca_serial_and_a_users_trusted_ca_certificates_are_revoked(
    site: Deployment,
) -> None:
    by_serial = certificate(site, PARTNER_CA, serial=4242)
    assert accepted(site, by_serial)
    site.admin("cert", "revoke", "4242")
    assert not accepted(site, by_serial)
    assert last_refusal(site, "revoked") == "revoked"
    by_user = certificate(site, PARTNER_CA, serial=4343, user="bob")
    assert accepted(site, by_user)
    site.admin("cert", "revoke", "--user", "bob")
    assert not accepted(site, by_user)
    assert last_refusal(site, "revoked") == "revoked"


def _client_with_partner_certificate(site: Deployment, serial: int) -> Client:
    """An OpenSSH client of alice whose certificate the partner CA signed."""
    client = site.client("alice-partner")
    subject = serialization.load_ssh_public_key(Path(f"{client.key}.pub").read_bytes())
    assert isinstance(subject, ed25519.Ed25519PublicKey)
    alice = site.users["alice"]
    now = int(time.time())
    spec = builder.good_spec(
        serial=serial,
        subject=subject,
        key_id=alice,
        valid_after=now - 60,
        valid_before=now + 3600,
        extensions=builder.standard_extensions(builder.claims_json(sub=alice), True),
    )
    blob = builder.build(spec, PARTNER_CA)
    client.cert.write_text(builder.to_line(blob) + "\n")
    return client


def test_open_sessions_of_a_revoked_trusted_ca_certificate_are_closed(site: Deployment) -> None:
    client = _client_with_partner_certificate(site, serial=6161)
    session = open_session(client, site.service, "sleep 60")
    try:
        started = time.monotonic()
        site.admin("cert", "revoke", "6161")
        session.wait(timeout=CLOSE_DEADLINE + 5)
        assert time.monotonic() - started < CLOSE_DEADLINE
        assert session.returncode == 1
    finally:
        session.kill()


def test_a_distrusted_ca_key_is_refused_within_a_second_and_a_rotated_one_takes_over(
    site: Deployment,
) -> None:
    _, old_fp = active_ca(site)
    issued = issued_certificate(site)
    assert accepted(site, issued)
    site.admin("ca", "rotate")
    assert accepted(site, issued)  # a rotated-out key stays trusted until it is distrusted
    session = open_session(site.client("alice"), site.service, "sleep 60")
    try:
        out = site.admin("ca", "distrust", old_fp)
        started = time.monotonic()  # the distrust is committed when the command returns
        assert out == {"fingerprint": old_fp, "distrusted": True, "active": False}
        assert wait_until(lambda: not accepted(site, issued), timeout=5, interval=0.05)
        elapsed = time.monotonic() - started
        # 1 s, and a margin for the attempt that saw it (a whole SSH handshake) under load
        assert elapsed < 1.5, f"the gateway took {elapsed:.2f}s to stop trusting the key"
        assert last_refusal(site, "untrusted-signer") == "untrusted-signer"
        session.wait(timeout=CLOSE_DEADLINE + 5)  # and its open sessions are closed
        assert time.monotonic() - started < CLOSE_DEADLINE and session.returncode == 1
    finally:
        session.kill()
    assert accepted(site, issued_certificate(site))  # signed by the new key

    partner_fp = fingerprint(PARTNER_CA.public_key())
    partner = certificate(site, PARTNER_CA, serial=5151)
    assert accepted(site, partner)
    site.admin("ca", "distrust", partner_fp)
    assert wait_until(lambda: not accepted(site, partner), timeout=5, interval=0.05)
    assert last_refusal(site, "untrusted-signer") == "untrusted-signer"
