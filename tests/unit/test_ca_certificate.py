"""Parsing presented certificates: every vector file, other signers, and hostile bytes."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from asyncssh.public_key import decode_ssh_public_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshgate.ca import (
    CertificateFormatError,
    ClaimsError,
    PresentedCertificate,
    fingerprint,
    parse_certificate,
    parse_certificate_line,
)
from tests.vectors import builder

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
INDEX: dict[str, Any] = json.loads((VECTORS_DIR / "vectors.json").read_text())
ENTRIES: list[dict[str, Any]] = INDEX["vectors"]
FILE_ENTRIES = [e for e in ENTRIES if e["file"] is not None]
CERT_SUFFIX = "-cert-v01@openssh.com"
GOOD_BLOB = base64.b64decode((VECTORS_DIR / "good-mfa.cert").read_text().split()[1])


def _pub(name: str) -> str:
    return (VECTORS_DIR / name).read_text().strip()


TRUSTED_FP = fingerprint(_pub(INDEX["trusted_ca_public_keys"][0]))
UNTRUSTED_FP = fingerprint(_pub(INDEX["untrusted_ca_public_key"]))
OWN_FP = fingerprint(_pub(INDEX["own_ca_public_keys"][0]))


def _entry(name: str) -> dict[str, Any]:
    (entry,) = [e for e in ENTRIES if e["name"] == name]
    return entry


def _parse(name: str) -> PresentedCertificate:
    return parse_certificate_line((VECTORS_DIR / _entry(name)["file"]).read_text())


def test_every_cert_file_is_indexed_and_every_rule_is_known() -> None:
    on_disk = {p.name for p in VECTORS_DIR.glob("*.cert")}
    assert on_disk == {e["file"] for e in FILE_ENTRIES}
    rules = {
        "ok",
        "malformed",
        "not-user-certificate",
        "untrusted-signer",
        "signer-key",
        "signer-is-certificate",
        "bad-signature",
        "expired",
        "not-yet-valid",
        "validity-too-long",
        "not-issued",
        "principals",
        "critical-option",
        "source-address",
        "claims",
        "key-id",
        "revoked",
        "unknown-user",
    }
    assert {e["rule"] for e in ENTRIES} == rules


@pytest.mark.parametrize("entry", FILE_ENTRIES, ids=[e["name"] for e in FILE_ENTRIES])
def test_vector_parses_as_indexed(entry: dict[str, Any]) -> None:
    line = (VECTORS_DIR / entry["file"]).read_text()
    if not entry["parses"]:
        assert entry["rule"] == "malformed"
        with pytest.raises(CertificateFormatError):
            parse_certificate_line(line)
        return
    cert = parse_certificate_line(line)
    assert entry["rule"] != "malformed"
    assert cert.signature_valid is entry["signature_valid"]


GOOD = [e["name"] for e in ENTRIES if e["rule"] == "ok"]


@pytest.mark.parametrize("name", GOOD)
def test_good_vectors_are_alice_signed_by_the_trusted_ca(name: str) -> None:
    cert = _parse(name)
    assert cert.signature_valid
    assert cert.signer_fingerprint == (OWN_FP if name == "good-own-ca" else TRUSTED_FP)
    assert cert.cert_type == "user"
    assert cert.key_id == INDEX["user"]["id"]
    assert cert.principals == (INDEX["user"]["username"],)
    claims = cert.claims()
    assert claims.sub == cert.key_id
    assert claims.has_mfa is (cert.extension_value("has-mfa@sshgate") is not None)


@pytest.mark.parametrize(
    ("name", "pub_file"),
    [
        ("good-mfa", "user_ed25519.pub"),
        ("good-ecdsa-p256", "user_ecdsa_p256.pub"),
        ("good-rsa-3072", "user_rsa3072.pub"),
    ],
)
def test_subject_key_blob_is_the_plain_user_key(name: str, pub_file: str) -> None:
    cert = _parse(name)
    expected = base64.b64decode(_pub(pub_file).split()[1])
    assert cert.subject_key_blob == expected
    assert decode_ssh_public_key(cert.subject_key_blob).public_data == expected
    assert cert.subject_fingerprint == fingerprint(_pub(pub_file))


def test_good_mfa_has_the_mfa_claims_and_no_mfa_has_not() -> None:
    assert _parse("good-mfa").claims().amr == ("pwd", "mfa")
    assert _parse("good-no-mfa").claims().amr == ("pwd",)
    assert _parse("good-no-mfa").extension_value("has-mfa@sshgate") is None


def test_bad_signature_does_not_verify_but_names_the_trusted_signer() -> None:
    cert = _parse("bad-signature")
    assert not cert.signature_valid
    assert cert.signer_fingerprint == TRUSTED_FP


def test_signer_that_is_a_certificate_never_verifies() -> None:
    cert = _parse("signer-is-certificate")
    assert cert.signature_key_type.endswith(CERT_SUFFIX)
    assert not cert.signature_valid


@pytest.mark.parametrize("name", ["untrusted-signer", "forged-mfa-untrusted-signer"])
def test_untrusted_signer_verifies_but_is_not_the_trusted_key(name: str) -> None:
    cert = _parse(name)
    assert cert.signature_valid
    assert cert.signer_fingerprint == UNTRUSTED_FP != TRUSTED_FP


def test_duplicate_critical_options_are_preserved_in_order() -> None:
    cert = _parse("critical-option-duplicate")
    assert [name for name, _ in cert.critical_options] == ["source-address", "source-address"]
    assert cert.critical_option_value("source-address") == b"127.0.0.1"


def test_host_certificate_reports_its_type() -> None:
    assert _parse("host-certificate").cert_type == "host"


def test_principal_lists_are_reported_as_presented() -> None:
    assert _parse("principals-none").principals == ()
    assert _parse("principals-two").principals == ("alice", "root")


@pytest.mark.parametrize(
    "name",
    [
        "claims-missing",
        "claims-invalid-json",
        "claims-huge",
        "claims-amr-wrong-type",
        "claims-duplicated",
    ],
)
def test_unreadable_claims_raise_claims_error(name: str) -> None:
    cert = _parse(name)
    assert cert.signature_valid
    with pytest.raises(ClaimsError):
        cert.claims()


def test_relative_vector_is_built_against_now() -> None:
    (entry,) = [e for e in ENTRIES if e["name"] == "expired-one-second-ago"]
    now = int(time.time())
    cert = parse_certificate(builder.build_relative(entry["relative"], now))
    assert cert.signature_valid and cert.signer_fingerprint == TRUSTED_FP
    assert cert.valid_before == now - 1 < now


def test_oversized_blob_is_refused_before_parsing() -> None:
    with pytest.raises(CertificateFormatError, match="longer than"):
        parse_certificate(GOOD_BLOB + b"\x00" * 16384)


def test_line_whose_type_disagrees_with_the_blob_is_refused() -> None:
    line = (VECTORS_DIR / "good-mfa.cert").read_text().split()
    with pytest.raises(CertificateFormatError):
        parse_certificate_line(f"ecdsa-sha2-nistp256-cert-v01@openssh.com {line[1]}")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        "ssh-ed25519-cert-v01@openssh.com ====",
        "ssh-ed25519-cert-v01@openssh.com AAAA é",
    ],
    ids=["empty", "type-only", "plain-key", "padding-only", "non-ascii-comment"],
)
def test_lines_that_are_not_certificates_are_refused(line: str) -> None:
    with pytest.raises(CertificateFormatError):
        parse_certificate_line(line)


def test_comment_after_the_certificate_is_ignored() -> None:
    line = (VECTORS_DIR / "good-mfa.cert").read_text().strip()
    assert parse_certificate_line(f"{line} alice@laptop").signature_valid


# --- other CA key types and signature algorithms --------------------------------------


def _ca_keys() -> dict[str, builder.PrivateKey]:
    return {
        "ecdsa-p256": ec.generate_private_key(ec.SECP256R1()),
        "ecdsa-p384": ec.generate_private_key(ec.SECP384R1()),
        "ecdsa-p521": ec.generate_private_key(ec.SECP521R1()),
        "rsa": rsa.generate_private_key(65537, 3072),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }


CA_KEYS = _ca_keys()


@pytest.mark.parametrize(
    ("ca", "algorithm"),
    [
        ("ecdsa-p256", None),
        ("ecdsa-p384", None),
        ("ecdsa-p521", None),
        ("ed25519", None),
        ("rsa", "ssh-rsa"),
        ("rsa", "rsa-sha2-256"),
        ("rsa", "rsa-sha2-512"),
    ],
)
def test_signatures_of_each_ca_key_type_verify(ca: str, algorithm: str | None) -> None:
    blob = builder.build(builder.good_spec(7), CA_KEYS[ca], algorithm=algorithm)
    cert = parse_certificate(blob)
    assert cert.signature_valid
    assert cert.signer_fingerprint == fingerprint(builder.public_key_blob(CA_KEYS[ca]))
    if algorithm:
        assert cert.signature_algorithm == algorithm


@pytest.mark.parametrize(
    ("ca", "algorithm"),
    [
        ("rsa", "ssh-ed25519"),
        ("ed25519", "rsa-sha2-512"),
        ("ecdsa-p256", "ecdsa-sha2-nistp384"),
        ("rsa", "rsa-sha2-1024"),
    ],
)
def test_signature_algorithm_that_does_not_fit_the_key_never_verifies(
    ca: str, algorithm: str
) -> None:
    spec = builder.good_spec(7)
    key_blob = builder.public_key_blob(CA_KEYS[ca])
    signed = spec.body() + builder.string(key_blob)
    real = builder.sign(CA_KEYS[ca], signed)
    inner = real[4 + int.from_bytes(real[:4], "big") :]
    cert = parse_certificate(signed + builder.string(builder.string(algorithm) + inner))
    assert not cert.signature_valid


@pytest.mark.parametrize("ca", ["ecdsa-p256", "rsa", "ed25519"])
def test_certificates_signed_by_cryptography_verify(ca: str) -> None:
    subject = ec.generate_private_key(ec.SECP384R1()).public_key()
    issued = (
        serialization.SSHCertificateBuilder()
        .public_key(subject)
        .type(serialization.SSHCertificateType.USER)
        .key_id(b"k")
        .valid_principals([b"alice"])
        .valid_after(0)
        .valid_before(2**40)
        .add_extension(b"token-claims@sshgate", b'{"x":1}')
        .sign(CA_KEYS[ca])  # type: ignore[arg-type]
    )
    cert = parse_certificate_line(issued.public_bytes().decode())
    assert cert.signature_valid
    assert cert.key_type == "ecdsa-sha2-nistp384-cert-v01@openssh.com"
    assert cert.extension_value("token-claims@sshgate") == b'{"x":1}'


def test_certificate_signed_by_ssh_keygen_verifies(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    for name in ("ca", "user"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True
        )
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(tmp_path / "ca"),
            "-I",
            "key-id",
            "-n",
            "alice",
            "-z",
            "77",
            "-V",
            "+1h",
            "-O",
            "source-address=127.0.0.1",
            "-O",
            "extension:token-claims@sshgate=xyz",
            str(tmp_path / "user.pub"),
        ],
        check=True,
    )
    cert = parse_certificate_line((tmp_path / "user-cert.pub").read_text())
    assert cert.signature_valid
    assert (cert.key_id, cert.serial, cert.principals) == ("key-id", 77, ("alice",))
    assert cert.signer_fingerprint == fingerprint((tmp_path / "ca.pub").read_text())
    assert cert.extension_value("token-claims@sshgate") == b"xyz"
    assert cert.extension_value("permit-pty") == b""
    assert cert.critical_option_value("source-address") == b"127.0.0.1"


def test_ecdsa_signature_with_trailing_bytes_never_verifies() -> None:
    key = CA_KEYS["ecdsa-p256"]
    spec = builder.good_spec(9)
    signed = spec.body() + builder.string(builder.public_key_blob(key))
    real = builder.sign(key, signed)
    algorithm_length = int.from_bytes(real[:4], "big")
    inner = real[8 + algorithm_length :] + b"\x00"
    signature = builder.string("ecdsa-sha2-nistp256") + builder.string(inner)
    assert not parse_certificate(signed + builder.string(signature)).signature_valid


def test_extension_data_that_is_not_one_ssh_string_is_malformed() -> None:
    spec = builder.good_spec(3, extensions=[("token-claims@sshgate", b"{raw json}")])
    with pytest.raises(CertificateFormatError):
        parse_certificate(builder.build(spec, CA_KEYS["ed25519"]))


def test_unparsable_signature_key_is_reported_not_raised() -> None:
    blob = builder.build(
        builder.good_spec(5),
        CA_KEYS["ed25519"],
        signature_key_blob=builder.string("ssh-ed25519") + b"\x00",
    )
    cert = parse_certificate(blob)
    assert cert.signature_key_type == "ssh-ed25519" and not cert.signature_valid


# --- hostile bytes ---------------------------------------------------------------------


def _parse_or_format_error(blob: bytes) -> None:
    with contextlib.suppress(CertificateFormatError):
        parse_certificate(blob)


@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_format_errors(blob: bytes) -> None:
    _parse_or_format_error(blob)


@given(st.integers(min_value=0, max_value=len(GOOD_BLOB) - 1))
def test_every_truncation_of_a_good_certificate_is_a_format_error(length: int) -> None:
    with pytest.raises(CertificateFormatError):
        parse_certificate(GOOD_BLOB[:length])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(GOOD_BLOB) - 1), st.integers(1, 255))
def test_a_flipped_byte_never_raises_anything_else_nor_verifies(position: int, mask: int) -> None:
    mutated = bytearray(GOOD_BLOB)
    mutated[position] ^= mask
    try:
        cert = parse_certificate(bytes(mutated))
    except CertificateFormatError:
        return
    assert not cert.signature_valid or cert.signer_fingerprint != TRUSTED_FP


@given(st.binary(max_size=512), st.integers(min_value=0, max_value=len(GOOD_BLOB)))
def test_splicing_random_bytes_into_a_good_certificate_is_safe(junk: bytes, at: int) -> None:
    _parse_or_format_error(GOOD_BLOB[:at] + junk + GOOD_BLOB[at:])


@given(st.text(max_size=300))
def test_random_text_lines_raise_only_format_errors(line: str) -> None:
    with contextlib.suppress(CertificateFormatError):
        parse_certificate_line(line)
