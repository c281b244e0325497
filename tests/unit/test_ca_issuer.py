"""Issuing user certificates: the contract's layout, checked by our parser, by cryptography,
and by the real ssh-keygen."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sshgate.ca import (
    Claims,
    ClaimsError,
    IssueRequest,
    KeyRejected,
    Permissions,
    TTLRefused,
    check_user_public_key,
    encode_claims,
    fingerprint,
    issue_certificate,
    parse_certificate_line,
    public_key_line,
    resolve_ttl,
)

USER_ID = "11111111-1111-4111-8111-111111111111"
ISSUED_AT = 1767225600  # 2026-01-01T00:00:00Z
CA = ed25519.Ed25519PrivateKey.generate()
USER_KEY_LINE = public_key_line(ed25519.Ed25519PrivateKey.generate().public_key())


def _request(mfa: bool = True, **changes: object) -> IssueRequest:
    claims = Claims(
        sub=USER_ID,
        amr=("pwd", "mfa") if mfa else ("pwd",),
        auth_time=ISSUED_AT - 5,
        jti="session-1",
    )
    request = IssueRequest(
        public_key=USER_KEY_LINE,
        user_id=USER_ID,
        username="alice",
        serial=4242,
        claims=claims,
        issued_at=ISSUED_AT,
        ttl=3600,
        permissions=Permissions(),
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def _ssh_keygen_listing(tmp_path: Path, certificate: str) -> list[str]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    path = tmp_path / "id-cert.pub"
    path.write_text(certificate + "\n")
    result = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.splitlines()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _field(listing: list[str], text: str) -> bool:
    return any(line.strip() == text for line in listing)


def _section(listing: list[str], title: str) -> list[str]:
    """The lines indented under ``title:`` (ssh-keygen nests list entries one level deeper)."""
    (start,) = [i for i, line in enumerate(listing) if line.strip() == f"{title}:"]
    entries = []
    for line in listing[start + 1 :]:
        if _indent(line) <= _indent(listing[start]):
            break
        entries.append(line.strip())
    return entries


def test_certificate_has_the_contract_layout() -> None:
    cert = parse_certificate_line(issue_certificate(CA, _request()))
    assert cert.key_type == "ssh-ed25519-cert-v01@openssh.com"
    assert cert.cert_type == "user"
    assert cert.key_id == USER_ID
    assert cert.principals == ("alice",)
    assert cert.serial == 4242
    assert (cert.valid_after, cert.valid_before) == (ISSUED_AT - 60, ISSUED_AT + 3600)
    assert cert.critical_options == ()
    assert [name for name, _ in cert.extensions] == [
        "has-mfa@sshgate",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "token-claims@sshgate",
    ]
    assert cert.extension_value("has-mfa@sshgate") == b""
    assert cert.extension_value("token-claims@sshgate") == encode_claims(_request().claims)
    assert cert.claims() == _request().claims
    assert cert.signature_valid
    assert cert.signer_fingerprint == fingerprint(public_key_line(CA.public_key()))
    assert cert.subject_key_blob == base64.b64decode(USER_KEY_LINE.split()[1])


def test_cryptography_reads_back_the_same_certificate() -> None:
    loaded = serialization.load_ssh_public_identity(
        issue_certificate(CA, _request(source_address="127.0.0.1")).encode()
    )
    assert isinstance(loaded, serialization.SSHCertificate)
    loaded.verify_cert_signature()
    assert loaded.type is serialization.SSHCertificateType.USER
    assert loaded.key_id == USER_ID.encode()
    assert loaded.valid_principals == [b"alice"]
    assert loaded.serial == 4242
    assert loaded.extensions[b"token-claims@sshgate"] == encode_claims(_request().claims)
    assert loaded.critical_options == {b"source-address": b"127.0.0.1"}


def test_without_mfa_there_is_no_has_mfa_extension() -> None:
    cert = parse_certificate_line(issue_certificate(CA, _request(mfa=False)))
    assert cert.extension_value("has-mfa@sshgate") is None
    assert cert.claims().amr == ("pwd",)


@pytest.mark.parametrize(
    ("permissions", "absent"),
    [
        (Permissions(pty=False), "permit-pty"),
        (Permissions(port_forwarding=False), "permit-port-forwarding"),
        (Permissions(agent_forwarding=False), "permit-agent-forwarding"),
    ],
    ids=["no-pty", "no-port-forwarding", "no-agent-forwarding"],
)
def test_a_permission_switched_off_drops_its_extension(
    permissions: Permissions, absent: str
) -> None:
    cert = parse_certificate_line(issue_certificate(CA, _request(permissions=permissions)))
    names = {name for name, _ in cert.extensions}
    assert absent not in names
    assert len(names & {"permit-pty", "permit-port-forwarding", "permit-agent-forwarding"}) == 2


def test_source_address_is_a_critical_option_only_when_bound() -> None:
    bound = parse_certificate_line(issue_certificate(CA, _request(source_address="127.0.0.1")))
    assert bound.critical_options == (("source-address", b"\x00\x00\x00\x09127.0.0.1"),)
    assert bound.critical_option_value("source-address") == b"127.0.0.1"


def test_ssh_keygen_lists_identity_serial_principal_validity(tmp_path: Path) -> None:
    listing = _ssh_keygen_listing(tmp_path, issue_certificate(CA, _request()))
    assert _field(listing, "Type: ssh-ed25519-cert-v01@openssh.com user certificate")
    assert _field(listing, f'Key ID: "{USER_ID}"')
    assert _field(listing, "Serial: 4242")
    assert _field(listing, "Valid: from 2025-12-31T23:59:00 to 2026-01-01T01:00:00")
    assert _section(listing, "Principals") == ["alice"]
    assert _field(listing, "Critical Options: (none)")
    fp = fingerprint(public_key_line(CA.public_key()))
    assert _field(listing, f"Signing CA: ED25519 {fp} (using ssh-ed25519)")


def test_ssh_keygen_shows_claims_wrapped_as_an_ssh_string(tmp_path: Path) -> None:
    listing = _ssh_keygen_listing(tmp_path, issue_certificate(CA, _request()))
    extensions = _section(listing, "Extensions")
    assert "has-mfa@sshgate UNKNOWN FLAG OPTION" in extensions
    assert {"permit-agent-forwarding", "permit-port-forwarding", "permit-pty"} <= set(extensions)
    # ssh-keygen prints the data field of an extension it does not know as hex; ours is the
    # JSON as one SSH string (u32 length, then the bytes), like `ssh-keygen -O extension:n=v`.
    (claims_line,) = [e for e in extensions if e.startswith("token-claims@sshgate")]
    hex_data = claims_line.split("UNKNOWN OPTION: ")[1].split()[0]
    data = bytes.fromhex(hex_data)
    claims = encode_claims(_request().claims)
    assert data == struct.pack(">I", len(claims)) + claims


def test_ssh_keygen_without_mfa_lists_no_has_mfa(tmp_path: Path) -> None:
    listing = _ssh_keygen_listing(tmp_path, issue_certificate(CA, _request(mfa=False)))
    extensions = _section(listing, "Extensions")
    assert not any(e.startswith("has-mfa@sshgate") for e in extensions)
    assert any(e.startswith("token-claims@sshgate") for e in extensions)


def test_ssh_keygen_shows_the_source_address_option(tmp_path: Path) -> None:
    listing = _ssh_keygen_listing(
        tmp_path, issue_certificate(CA, _request(source_address="127.0.0.1"))
    )
    assert _section(listing, "Critical Options") == ["source-address 127.0.0.1"]


def test_ssh_keygen_drops_a_permission_switched_off(tmp_path: Path) -> None:
    listing = _ssh_keygen_listing(
        tmp_path, issue_certificate(CA, _request(permissions=Permissions(pty=False)))
    )
    assert "permit-pty" not in _section(listing, "Extensions")


@pytest.fixture(scope="module")
def key_lines() -> dict[str, str]:
    def line(
        key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    ) -> str:
        return public_key_line(key.public_key())

    certificate = issue_certificate(CA, _request())
    return {
        "ed25519": line(ed25519.Ed25519PrivateKey.generate()),
        "ecdsa-p256": line(ec.generate_private_key(ec.SECP256R1())),
        "ecdsa-p384": line(ec.generate_private_key(ec.SECP384R1())),
        "ecdsa-p521": line(ec.generate_private_key(ec.SECP521R1())),
        "rsa-3072": line(rsa.generate_private_key(65537, 3072)),
        "rsa-4096": line(rsa.generate_private_key(65537, 4096)),
        "rsa-2048": line(rsa.generate_private_key(65537, 2048)),
        "certificate": certificate,
        "ed25519-with-comment": line(ed25519.Ed25519PrivateKey.generate()) + " alice@laptop",
        "dsa": "ssh-dss AAAAB3NzaC1kc3MAAAABAQ==",
        "security-key": "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t",
        "type-mismatch": "ssh-rsa " + line(ed25519.Ed25519PrivateKey.generate()).split()[1],
        "bad-base64": "ssh-ed25519 AAAA!!!!",
        "truncated": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
        "empty": "",
        "type-only": "ssh-ed25519",
        "huge": "ssh-ed25519 " + "A" * 20000,
    }


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("ed25519", True),
        ("ecdsa-p256", True),
        ("ecdsa-p384", True),
        ("ecdsa-p521", True),
        ("rsa-3072", True),
        ("rsa-4096", True),
        ("ed25519-with-comment", True),
        ("rsa-2048", False),
        ("certificate", False),
        ("dsa", False),
        ("security-key", False),
        ("type-mismatch", False),
        ("bad-base64", False),
        ("truncated", False),
        ("empty", False),
        ("type-only", False),
        ("huge", False),
    ],
)
def test_user_key_types_accepted_or_refused(
    key_lines: dict[str, str], name: str, accepted: bool
) -> None:
    if accepted:
        check_user_public_key(key_lines[name])
        cert = parse_certificate_line(issue_certificate(CA, _request(public_key=key_lines[name])))
        assert cert.signature_valid
        assert cert.key_type == key_lines[name].split()[0] + "-cert-v01@openssh.com"
    else:
        with pytest.raises(KeyRejected):
            check_user_public_key(key_lines[name])
        with pytest.raises(KeyRejected):
            issue_certificate(CA, _request(public_key=key_lines[name]))


def test_refusing_a_certificate_says_to_send_the_plain_key(key_lines: dict[str, str]) -> None:
    with pytest.raises(KeyRejected, match="plain public key"):
        check_user_public_key(key_lines["certificate"])


@pytest.mark.parametrize("ttl", [0, -1], ids=["zero", "negative"])
def test_non_positive_ttl_is_refused(ttl: int) -> None:
    with pytest.raises(TTLRefused):
        issue_certificate(CA, _request(ttl=ttl))


def test_claims_of_another_user_are_refused() -> None:
    other = Claims(sub="22222222-2222-4222-8222-222222222222", amr=("pwd",), auth_time=0, jti="")
    with pytest.raises(ClaimsError):
        issue_certificate(CA, _request(claims=other))


@pytest.mark.parametrize(
    "changes",
    [
        {"serial": 0},
        {"serial": 2**64},
        {"username": "Alice"},
        {"username": "a,b"},
        {"source_address": "not an address"},
    ],
    ids=["serial-zero", "serial-too-big", "username-upper", "username-comma", "bad-address"],
)
def test_values_the_store_never_produces_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        issue_certificate(CA, _request(**changes))


def test_valid_after_is_not_negative_near_the_epoch() -> None:
    cert = parse_certificate_line(issue_certificate(CA, _request(issued_at=10)))
    assert cert.valid_after == 0 and cert.valid_before == 3610


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(None, 3600), (1, 1), (86400, 86400)],
    ids=["default", "one-second", "maximum"],
)
def test_resolve_ttl_uses_request_or_default(requested: int | None, expected: int) -> None:
    assert resolve_ttl(requested, default=3600, maximum=86400) == expected


@pytest.mark.parametrize(
    "requested", [0, -5, 86401, True], ids=["zero", "negative", "over", "bool"]
)
def test_resolve_ttl_refuses(requested: int) -> None:
    with pytest.raises(TTLRefused):
        resolve_ttl(requested, default=3600, maximum=86400)
