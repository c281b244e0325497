"""The gateway's certificate checks over every known-answer vector: each hostile vector is
refused by exactly the rule it was built to break; the good ones pass."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sshgate.ca.certificate import parse_certificate, parse_certificate_line
from sshgate.ca.errors import CertificateFormatError
from sshgate.ca.keys import fingerprint
from sshgate.policy.model import User
from sshgate.ssh_gateway.certcheck import CHECKS, CheckInput, check_certificate
from sshgate.store.base import CertificateRecord
from tests.vectors import builder

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
INDEX: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text())
USERS = {
    u["id"]: User(u["id"], u["username"], f"{u['username']}@example.com") for u in INDEX["users"]
}
ALICE_ID = INDEX["user"]["id"]
OWN = frozenset(fingerprint((VECTORS / f).read_text().strip()) for f in INDEX["own_ca_public_keys"])
TRUSTED = OWN | frozenset(
    fingerprint((VECTORS / f).read_text().strip()) for f in INDEX["trusted_ca_public_keys"]
)
MAX_TTL = int(INDEX["max_certificate_ttl"])


def _blob(entry: dict[str, Any], now: int) -> bytes | str:
    if entry["file"] is None:
        return builder.build_relative(entry["relative"], now)
    return (VECTORS / entry["file"]).read_text()


def _verdict(entry: dict[str, Any]) -> str:
    now = int(time.time())
    raw = _blob(entry, now)
    try:
        cert = parse_certificate(raw) if isinstance(raw, bytes) else parse_certificate_line(raw)
    except CertificateFormatError:
        return "malformed"
    setup = entry.get("setup", {})
    record = None
    if not setup.get("not_issued"):
        revoked = cert.serial in setup.get("revoked_serials", [])
        other_key = setup.get("ledger_key") == "other"
        record = CertificateRecord(
            serial=cert.serial,
            user_id=ALICE_ID,
            key_fingerprint="SHA256:another-key" if other_key else cert.subject_fingerprint,
            valid_after=0,
            valid_before=0,
            amr=("pwd",),
            jti="",
            ca_fingerprint=cert.signer_fingerprint,
            issued_at=0,
            revoked_at=now - 10 if revoked else None,
        )
    user = USERS.get(record.user_id if record else cert.key_id)
    facts = CheckInput(cert, now, TRUSTED, INDEX["client_address"], user, record, OWN, MAX_TTL)
    return check_certificate(facts).rule


@pytest.mark.parametrize("entry", INDEX["vectors"], ids=[v["name"] for v in INDEX["vectors"]])
def test_vector_is_decided_by_its_rule(entry: dict[str, Any]) -> None:
    assert _verdict(entry) == entry["rule"]


def test_every_rule_has_a_vector() -> None:
    covered = {v["rule"] for v in INDEX["vectors"]}
    # user-disabled needs store state, tested below; the rest must each have a vector.
    assert {name for name, _ in CHECKS} - covered == {"user-disabled"}


def test_disabled_user_is_refused() -> None:
    entry = next(v for v in INDEX["vectors"] if v["name"] == "good-mfa")
    cert = parse_certificate_line((VECTORS / entry["file"]).read_text())
    alice = USERS[ALICE_ID]
    disabled = User(alice.id, alice.username, alice.email, disabled=True)
    verdict = check_certificate(
        CheckInput(cert, int(time.time()), TRUSTED, "127.0.0.1", disabled, None, OWN, MAX_TTL)
    )
    assert verdict.rule == "user-disabled"
