"""Every certificate refusal rule over a real connection from the stock OpenSSH client.

The gateway here also trusts the test vectors' CA (`ca.trusted_public_keys`), so the wire
builder can make certificates that break exactly one rule. Each refusal is checked at the
client (Permission denied, and the banner where the contract documents one) and in the
audit log (the rule's name)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from sshgate.ca.keys import fingerprint
from tests.e2e.conftest import Deployment, start_deployment
from tests.support.deployment import Client
from tests.vectors import builder

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start_deployment(
        tmp_path_factory.mktemp("rules"),
        {"SSHGATE_CA_TRUSTED_PUBLIC_KEYS": str(VECTORS / "trusted_ca.pub")},
    )
    for name in ("dave", "erin"):
        d.add_user(name)
        d.admin("org", "member", "opensrc", name, "--role", "member")
        d.admin("project", "grant", d.open_project, name, "--role", "contributor")
    d.admin("user", "disable", "erin")
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


@pytest.fixture(scope="module")
def hostile(deployment: Deployment) -> Client:
    """A client holding the vectors' user key, so wire-built certificates are usable."""
    client = deployment.client("hostile")
    key = builder.user_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    client.key.unlink()
    fd = os.open(client.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    pub = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    Path(f"{client.key}.pub").write_bytes(pub + b"\n")
    return client


def certificate(d: Deployment, user: str, serial: int, signer: Any = None, **changes: Any) -> str:
    user_id = d.users.get(user, str(uuid.uuid4()))
    now = int(time.time())
    mfa = changes.pop("mfa", False)
    claims = builder.claims_json(sub=changes.pop("sub", user_id), mfa=mfa, auth_time=now)
    spec = builder.good_spec(
        serial=serial,
        key_id=changes.pop("key_id", user_id),
        principals=changes.pop("principals", (user,)),
        valid_after=changes.pop("valid_after", now - 60),
        valid_before=changes.pop("valid_before", now + 600),
        extensions=changes.pop("extensions", builder.standard_extensions(claims, mfa)),
        **changes,
    )
    blob = builder.build(spec, signer or builder.trusted_ca_key())
    return builder.to_line(blob)


def attempt(d: Deployment, client: Client, line: str) -> subprocess.CompletedProcess[bytes]:
    client.cert.write_text(line + "\n")
    return client.ssh(d.open_service, "echo in")


def audited_rule(d: Deployment, serial: int) -> list[str]:
    items = d.admin("audit", "--since", "10m")["items"]
    assert isinstance(items, list)
    return [r["reason"] for r in items if r["kind"] == "auth" and r["serial"] == serial]


def test_control_a_good_wire_built_certificate_gets_in(
    deployment: Deployment, hostile: Client
) -> None:
    result = attempt(deployment, hostile, certificate(deployment, "dave", 5001))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"in\n"


# Stock ssh refuses to present a host certificate for user authentication; that rule, and
# the other shapes ssh will not send, are covered by tests/unit/test_certcheck_vectors.py.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "not-yet-valid",
        "dave",
        {"valid_after": int(time.time()) + 3600, "valid_before": int(time.time()) + 7200},
    ),
    ("principals", "dave", {"principals": ("bob",)}),
    ("principals", "dave", {"principals": ()}),
    ("principals", "dave", {"principals": ("dave", "root")}),
    ("unknown-user", "mallory", {}),
    ("user-disabled", "erin", {}),
    ("critical-option", "dave", {"critical_options": [("force-command", builder.wrap("id"))]}),
    (
        "source-address",
        "dave",
        {"critical_options": [("source-address", builder.wrap("10.9.8.7/32"))]},
    ),
    ("claims", "dave", {"extensions": [("token-claims@sshgate", builder.wrap(b"{not json"))]}),
]


@pytest.mark.parametrize(
    ("rule", "user", "changes"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_certificate_breaking_one_rule_is_refused_with_that_rule_audited(
    deployment: Deployment, hostile: Client, rule: str, user: str, changes: dict[str, Any]
) -> None:
    serial = 6000 + CASES.index((rule, user, changes))
    result = attempt(deployment, hostile, certificate(deployment, user, serial, **changes))
    assert result.returncode == 255
    assert b"Permission denied (publickey)" in result.stderr
    assert rule in audited_rule(deployment, serial)


def test_untrusted_signer_is_refused(deployment: Deployment, hostile: Client) -> None:
    result = attempt(
        deployment,
        hostile,
        certificate(deployment, "dave", 7001, signer=builder.untrusted_ca_key(), mfa=True),
    )
    assert result.returncode == 255
    assert "untrusted-signer" in audited_rule(deployment, 7001)


def test_expired_certificate_shows_the_documented_banner(
    deployment: Deployment, hostile: Client
) -> None:
    now = int(time.time())
    result = attempt(
        deployment,
        hostile,
        certificate(deployment, "dave", 7002, valid_after=now - 7200, valid_before=now - 1),
    )
    assert result.returncode == 255
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1))
    assert (
        f"sshgate: your SSH certificate expired at {expires}; run: sshgate login -f".encode()
        in result.stderr
    )
    assert b"Permission denied" in result.stderr
    assert "expired" in audited_rule(deployment, 7002)


def test_revoked_certificate_shows_the_documented_banner(
    deployment: Deployment, alice_like: Client
) -> None:
    serial = deployment.issue(alice_like, "dave", ("pwd",))
    assert alice_like.ssh(deployment.open_service, "true").returncode == 0
    deployment.admin("cert", "revoke", str(serial))
    result = alice_like.ssh(deployment.open_service, "true")
    assert result.returncode == 255
    assert b"sshgate: your SSH certificate was revoked; run: sshgate login -f" in result.stderr
    assert "revoked" in audited_rule(deployment, serial)


@pytest.fixture()
def alice_like(deployment: Deployment) -> Client:
    return deployment.client(f"dave-{uuid.uuid4().hex[:6]}")


def test_plain_key_without_certificate_is_refused(
    deployment: Deployment, alice_like: Client
) -> None:
    alice_like.cert.unlink(missing_ok=True)
    result = alice_like.ssh(deployment.open_service, "true")
    assert result.returncode == 255
    assert b"Permission denied (publickey)" in result.stderr


def test_passwords_and_keyboard_interactive_are_not_offered(
    deployment: Deployment, alice_like: Client
) -> None:
    result = subprocess.run(
        [
            "ssh",
            "-F",
            str(alice_like.config),
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-o",
            "PubkeyAuthentication=no",
            f"{deployment.open_service}@gw",
            "true",
        ],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 255
    assert b"Permission denied (publickey)" in result.stderr


def test_trusted_key_fingerprint_matches_fixture() -> None:
    # Guards the fixture wiring: the CA the gateway trusts signs the builder's certificates.
    line = (VECTORS / "trusted_ca.pub").read_text().strip()
    pub = (
        builder.trusted_ca_key()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    assert fingerprint(line) == fingerprint(pub)
