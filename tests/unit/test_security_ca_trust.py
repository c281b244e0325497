"""Trust in CA keys: a stranger's certificate costs no signature work and no store read,
RSA CA keys are held to sane sizes and exponent, no certificate is valid for too long, and
the store's distrust, per-CA serial and key ID revocations (SQLite here; PostgreSQL in
tests/integration/test_security_ca_trust_postgres.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sshgate.ca import _signature, certificate, signers
from sshgate.ca._signature import acceptable_signer_key
from sshgate.ca.certificate import parse_certificate, parse_certificate_line
from sshgate.ca.keys import fingerprint
from sshgate.policy.model import User
from sshgate.ssh_gateway.certcheck import CheckInput, check_certificate
from sshgate.ssh_gateway.certgather import judge_certificate
from sshgate.ssh_gateway.trust import TrustedSigners
from sshgate.store import SQLiteStore, Store
from sshgate.store.base import CAKeyRecord, CertificateRecord
from tests.vectors import builder

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
ALICE = User(builder.USER_ID, builder.USERNAME, "alice@example.com")


def _rsa_blob(exponent: int, bits: int) -> bytes:
    modulus = (1 << (bits - 1)) | 1
    return builder.string("ssh-rsa") + builder.mpint(exponent) + builder.mpint(modulus)


@pytest.mark.parametrize(
    ("exponent", "bits", "acceptable"),
    [
        (65537, 2048, True),
        (65537, 3072, True),
        (65537, 8192, True),
        (65537, 2047, False),
        (65537, 1024, False),
        (65537, 8193, False),
        (3, 2048, False),
        (2**255 - 19, 2048, False),
        (65539, 4096, False),
    ],
    ids=lambda v: str(v) if not isinstance(v, int) or v < 10**6 else "huge",
)
def test_rsa_ca_keys_need_2048_to_8192_bits_and_exponent_65537(
    exponent: int, bits: int, acceptable: bool
) -> None:
    assert acceptable_signer_key(_rsa_blob(exponent, bits)) is acceptable


def test_ed25519_and_ecdsa_ca_keys_are_acceptable_and_a_truncated_rsa_key_is_not() -> None:
    assert acceptable_signer_key(builder.public_key_blob(builder.trusted_ca_key()))
    assert acceptable_signer_key(builder.public_key_blob(builder.seeded_ecdsa_p256("ca")))
    assert not acceptable_signer_key(_rsa_blob(65537, 2048)[:-3])


class CountingStore:
    """Counts what the shell asks a store, and answers like an empty one."""

    def __init__(self) -> None:
        self.reads = 0

    async def list_ca_keys(self) -> list[CAKeyRecord]:
        return []

    async def list_distrusted_ca_keys(self) -> list[str]:
        return []

    async def get_certificate(self, serial: int) -> None:
        self.reads += 1

    async def get_user(self, user_id: str) -> None:
        self.reads += 1


@pytest.mark.parametrize(
    ("vector", "rule"),
    [
        ("untrusted-rsa-huge-exponent", "untrusted-signer"),
        ("signer-rsa-huge-exponent", "signer-key"),
        ("untrusted-signer", "untrusted-signer"),
    ],
)
async def test_a_strangers_certificate_costs_no_signature_work_and_no_store_read(
    vector: str, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[bytes] = []
    real = _signature.check_signature

    def counting(key: bytes, signature: bytes, signed: bytes) -> _signature.SignatureCheck:
        verified.append(key)
        return real(key, signature, signed)

    monkeypatch.setattr(certificate, "check_signature", counting)
    cert = parse_certificate_line((VECTORS / f"{vector}.cert").read_text())
    store = CountingStore()
    trusted = TrustedSigners(
        store,  # type: ignore[arg-type]
        [VECTORS / "trusted_ca.pub", VECTORS / "rsa_huge_exponent_ca.pub"],
        86400,
    )
    verdict, _ = await judge_certificate(cert, store, trusted, "127.0.0.1", 2_500_000_000)  # type: ignore[arg-type]
    assert verdict.rule == rule
    assert verified == []
    assert store.reads == 0


def test_a_certificate_of_the_trusted_ca_is_verified_once() -> None:
    cert = parse_certificate_line((VECTORS / "good-mfa.cert").read_text())
    assert cert.signature_valid and cert.signature_valid
    assert "signature_valid" in vars(cert)  # cached: the second use did no work


@pytest.mark.parametrize(
    ("lifetime", "rule"),
    [(86400 + 60, "ok"), (86400 + 61, "validity-too-long"), (30 * 86400, "validity-too-long")],
    ids=["max-ttl-plus-backdating", "one-second-more", "thirty-days"],
)
def test_no_certificate_is_valid_longer_than_max_certificate_ttl(lifetime: int, rule: str) -> None:
    now = int(time.time())
    spec = builder.good_spec(serial=5, valid_after=now - 60, valid_before=now - 60 + lifetime)
    cert = parse_certificate(builder.build(spec, builder.trusted_ca_key()))
    trusted = frozenset({cert.signer_fingerprint})
    facts = CheckInput(cert, now, trusted, "127.0.0.1", ALICE, None, frozenset(), 86400)
    assert check_certificate(facts).rule == rule


def test_a_distrusted_key_is_neither_trusted_nor_own_wherever_it_comes_from() -> None:
    own = CAKeyRecord("SHA256:own", "ssh-ed25519 AAAA own", added_at=1.0)
    partner_line = (VECTORS / "trusted_ca.pub").read_text().strip()
    partner = fingerprint(partner_line)
    both = signers([own], [partner_line], 2.0, 86400, [])
    assert both.trusted == {"SHA256:own", partner} and both.own == {"SHA256:own"}
    none = signers([own], [partner_line], 2.0, 86400, ["SHA256:own", partner])
    assert none.trusted == frozenset() and none.own == frozenset()


async def _ledger_revocations(store: Store) -> None:
    user = await store.create_user("alice", "alice@example.com", "x")
    before = await store.policy_version()
    assert await store.revoke_ca_serial("SHA256:partner", 42, 100.0)
    assert not await store.revoke_ca_serial("SHA256:partner", 42, 200.0)  # first time kept
    assert await store.policy_version() > before
    found = await store.get_revocation("SHA256:partner", 42, user.id)
    assert found.serial_revoked_at == 100.0 and found.key_id_revoked_at is None
    other_ca = await store.get_revocation("SHA256:other", 42, user.id)
    assert other_ca.serial_revoked_at is None
    assert (
        await store.get_revocation("SHA256:partner", 2**64 - 1, user.id)
    ).serial_revoked_at is None

    record = CertificateRecord(7, user.id, "SHA256:k", 0, 10, ("pwd",), "j", "SHA256:own", 1.0)
    await store.record_certificate(record)
    assert await store.revoke_user_certificates(user.id, 300.0) == 1
    await store.revoke_user_certificates(user.id, 250.0)  # an older time never wins
    assert (await store.get_revocation("SHA256:x", 1, user.id)).key_id_revoked_at == 300.0

    before = await store.policy_version()
    assert await store.distrust_ca_key("SHA256:own", 400.0)
    assert not await store.distrust_ca_key("SHA256:own", 500.0)
    assert await store.list_distrusted_ca_keys() == ["SHA256:own"]
    assert await store.policy_version() > before


async def test_per_ca_serials_key_ids_and_distrust_are_stored_on_sqlite(
    store: SQLiteStore,
) -> None:
    await _ledger_revocations(store)
