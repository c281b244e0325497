"""A principal with a comma, against the CA's parser and the gateway's validator (the
vectors under tests/vectors/ cover the other hostile shapes; this one is built here). Over a
real connection: tests/e2e/test_hostile_requests.py::
test_a_principal_with_a_comma_is_refused_by_the_principals_rule."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sshgate.ca.certificate import parse_certificate
from sshgate.ca.keys import fingerprint
from sshgate.policy.model import User
from sshgate.ssh_gateway.certcheck import CheckInput, check_certificate
from tests.vectors import builder

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
INDEX = json.loads((VECTORS / "vectors.json").read_text())
ALICE = User(INDEX["user"]["id"], INDEX["user"]["username"], "alice@example.com")
TRUSTED = frozenset(
    fingerprint((VECTORS / f).read_text().strip()) for f in INDEX["trusted_ca_public_keys"]
)


@pytest.mark.parametrize(
    ("principals", "rule"),
    [
        (("alice",), "ok"),
        (("alice,bob",), "principals"),
        (("bob,alice",), "principals"),
        (("alice,alice",), "principals"),
        (("alice", "alice"), "principals"),
        ((" alice",), "principals"),
        (("alice ",), "principals"),
        (("ALICE",), "principals"),
    ],
)
def test_only_exactly_the_username_is_a_principal(principals: tuple[str, ...], rule: str) -> None:
    now = int(time.time())
    blob = builder.build(
        builder.good_spec(
            serial=99, principals=principals, valid_after=now - 60, valid_before=now + 3600
        ),
        builder.trusted_ca_key(),
    )
    cert = parse_certificate(blob)
    assert cert.principals == principals  # parsed as given: never split at the comma
    facts = CheckInput(cert, now, TRUSTED, "192.0.2.10", ALICE, None, frozenset(), 86400)
    verdict = check_certificate(facts)
    assert verdict.rule == rule
    assert verdict.ok is (rule == "ok")
