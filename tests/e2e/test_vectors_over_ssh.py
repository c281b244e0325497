"""Every certificate vector over a real SSH connection to the gateway, presented by a
client that sends the bytes as they are. Each hostile vector is refused, and the audit log
names the rule the vector was built to break; the good ones authenticate."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from sshgate.ca.certificate import parse_certificate
from sshgate.ca.errors import CertificateFormatError
from sshgate.ca.keys import fingerprint
from sshgate.demo.sshd import free_port
from sshgate.store import CertificateRecord, open_store
from tests.e2e.conftest import PASSWORD
from tests.support.deployment import Server, sshgate, sshgate_json, wait_until
from tests.support.rawclient import try_auth
from tests.vectors import builder

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
INDEX: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text())
ALICE = INDEX["user"]["id"]


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.config = self.data / "config.toml"
        self.port = free_port()
        self.server: Server | None = None

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data / "sshgate.db")


def _adopt_vector_identities(site: Site) -> None:
    """The vectors name fixed user ids; give the store's alice and bob those ids."""
    for user in INDEX["users"]:
        sshgate_json(
            "admin",
            "user",
            "add",
            user["username"],
            "--email",
            f"{user['username']}@example.com",
            "--password-stdin",
            config=site.config,
            stdin=PASSWORD + "\n",
        )
    with site.db() as db:
        for user in INDEX["users"]:
            db.execute("UPDATE users SET id = ? WHERE username = ?", (user["id"], user["username"]))


async def _record_serials(site: Site, blobs: list[bytes]) -> None:
    store = await open_store("sqlite:///sshgate.db", str(site.data))
    try:
        # The vectors' own CA is sshgate's (in the store, so the ledger applies to it).
        for name in INDEX["own_ca_public_keys"]:
            line = (VECTORS / name).read_text().strip()
            await store.record_ca_key(fingerprint(line), line, time.time())
        seen: set[int] = set()
        for entry, blob in zip(INDEX["vectors"], blobs, strict=True):
            if entry.get("setup", {}).get("not_issued"):
                continue
            try:
                cert = parse_certificate(blob)
            except CertificateFormatError:
                continue
            if cert.serial in seen:
                continue
            seen.add(cert.serial)
            other_key = entry.get("setup", {}).get("ledger_key") == "other"
            key = "SHA256:another-key" if other_key else cert.subject_fingerprint
            await store.record_certificate(
                CertificateRecord(
                    cert.serial, ALICE, key, 0, 2**62, ("pwd",), "vector",
                    cert.signer_fingerprint, time.time(),
                )
            )  # fmt: skip
        for serial in {
            s for e in INDEX["vectors"] for s in e.get("setup", {}).get("revoked_serials", [])
        }:
            await store.revoke_certificate(serial, time.time())
    finally:
        await store.close()


def _blob(entry: dict[str, Any]) -> bytes:
    if entry["file"] is None:
        return builder.build_relative(entry["relative"], int(time.time()))
    words = (VECTORS / entry["file"]).read_text().split()
    try:
        return base64.b64decode(words[1], validate=True)
    except (binascii.Error, IndexError):
        return (VECTORS / entry["file"]).read_bytes()  # not base64: sent as the raw bytes


BLOBS = [_blob(e) for e in INDEX["vectors"]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("vectors"))
    sshgate("init", "--data-dir", str(s.data))
    _adopt_vector_identities(s)
    asyncio.run(_record_serials(s, BLOBS))
    s.server = Server(
        s.config,
        {
            "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{s.port}",
            "SSHGATE_API_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_CA_TRUSTED_PUBLIC_KEYS": ",".join(
                str(VECTORS / name) for name in INDEX["trusted_ca_public_keys"]
            ),
            # The vectors are valid 2026-2099 (see vectors.json).
            "SSHGATE_CA_MAX_CERTIFICATE_TTL": str(INDEX["max_certificate_ttl"]),
            "SSHGATE_GATEWAY_MAX_AUTH_ATTEMPTS": "100",
        },
    )
    s.server.start()
    try:
        yield s
    finally:
        s.server.stop()
        shutil.rmtree(s.root, ignore_errors=True)


def _signing_key(blob: bytes) -> asyncssh.SSHKey:
    """The private key whose public half the certificate certifies (ed25519 when unknown)."""
    try:
        subject = parse_certificate(blob).subject_key_blob
    except CertificateFormatError:
        subject = b""
    for name in ("user_ecdsa_p256", "user_rsa3072", "user_ed25519"):
        path = VECTORS / name
        key = asyncssh.import_private_key(path.read_bytes())
        if key.public_data == subject:
            return key
    return asyncssh.import_private_key((VECTORS / "user_ed25519").read_bytes())


def _last_auth_reason(site: Site) -> str | None:
    with site.db() as db:
        row = db.execute(
            "SELECT reason FROM audit WHERE kind = 'auth' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return None if row is None else str(row[0])


@pytest.mark.parametrize(
    ("entry", "blob"),
    list(zip(INDEX["vectors"], BLOBS, strict=True)),
    ids=[v["name"] for v in INDEX["vectors"]],
)
def test_vector_over_a_real_connection(site: Site, entry: dict[str, Any], blob: bytes) -> None:
    before = _last_auth_reason(site)
    with site.db() as db:
        count_before = db.execute("SELECT count(*) FROM audit WHERE kind = 'auth'").fetchone()[0]
    accepted = asyncio.run(
        try_auth("127.0.0.1", site.port, "abcdefg123456", _signing_key(blob), blob)
    )
    if entry["rule"] == "ok":
        assert accepted, f"{entry['name']} was refused ({_last_auth_reason(site)})"
        return
    assert not accepted

    def auth_rows() -> int:
        with site.db() as db:
            return int(db.execute("SELECT count(*) FROM audit WHERE kind = 'auth'").fetchone()[0])

    # Refused authentication is audited in the background: the record follows the refusal.
    recorded = wait_until(lambda: auth_rows() > count_before, timeout=5, interval=0.02)
    assert recorded, f"no audit record for {entry['name']} (last: {before})"
    if _is_text_only(entry):
        # Invalid base64 exists only in the text form; on the wire it is just bytes that
        # do not start with a certificate type.
        assert _last_auth_reason(site) in ("malformed", "not-a-certificate")
    else:
        assert _last_auth_reason(site) == entry["rule"]


def _is_text_only(entry: dict[str, Any]) -> bool:
    if entry["file"] is None:
        return False
    words = (VECTORS / entry["file"]).read_text().split()
    try:
        base64.b64decode(words[1], validate=True)
    except (binascii.Error, IndexError):
        return True
    return False
