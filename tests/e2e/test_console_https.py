"""The Console over real HTTPS: `sshgate serve --role api` with `api.tls_cert_file` and
`api.tls_key_file` (a self-signed certificate made here); the session and CSRF cookies come
`Secure`, `HttpOnly`, `SameSite=Strict` with the `__Host-` prefix, and a cookie sent back
without the prefix is not a session."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sshgate.demo.sshd import free_port
from tests.support.deployment import Server, sshgate

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "api.crt", folder / "api.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture(scope="module")
def https_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("https")
    data = root / "data"
    sshgate("init", "--data-dir", str(data))
    config = data / "config.toml"
    sshgate(
        "admin", "user", "add", "alice", "--email", "alice@example.com", "--password-stdin",
        config=config, stdin=PASSWORD + "\n",
    )  # fmt: skip
    cert_file, key_file = self_signed(root)
    port = free_port()
    server = Server(
        config,
        {
            "SSHGATE_API_LISTEN": f"127.0.0.1:{port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_API_TLS_CERT_FILE": str(cert_file),
            "SSHGATE_API_TLS_KEY_FILE": str(key_file),
            "SSHGATE_API_PUBLIC_URL": f"https://localhost:{port}",
        },
        role="api",
    )
    server.start()
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.stop()


def test_over_https_the_console_cookies_are_secure_host_only_httponly_and_strict(
    https_url: str,
) -> None:
    with httpx.Client(base_url=https_url, verify=False, timeout=30) as client:
        form = client.get("/sign-in")
        assert form.status_code == 200
        assert "default-src 'self'" in form.headers["content-security-policy"]
        token = CSRF.search(form.text)
        assert token is not None
        signed = client.post(
            "/sign-in",
            data={"csrf": token.group(1), "username": "alice", "password": PASSWORD},
        )
        assert signed.status_code == 303, signed.text
        cookies = signed.headers.get_list("set-cookie")
        assert {c.split("=", 1)[0] for c in cookies} == {
            "__Host-sshgate_session",
            "__Host-sshgate_csrf",
        }
        for cookie in cookies:
            flags = {part.strip().lower() for part in cookie.split(";")[1:]}
            assert {"secure", "httponly", "path=/", "samesite=strict"} <= flags, cookie
            assert not any(flag.startswith("domain") for flag in flags), cookie
        assert client.get("/profile").status_code == 200
        bearer = client.cookies["__Host-sshgate_session"]

    # The same bearer under the name without the prefix is no session over HTTPS.
    with httpx.Client(base_url=https_url, verify=False, timeout=30) as plain:
        plain.cookies.set("sshgate_session", bearer)
        refused = plain.get("/profile")
        assert refused.status_code == 303 and refused.headers["location"] == "/sign-in"
