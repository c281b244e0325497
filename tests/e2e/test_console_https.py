"""The Console over real HTTPS: `sshgate serve --role api` with `api.tls_cert_file` and
`api.tls_key_file` (a self-signed certificate made here); the session and CSRF cookies come
`Secure`, `HttpOnly`, `SameSite=Strict` with the `__Host-` prefix, and a cookie sent back
without the prefix is not a session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from sshgate.demo.sshd import free_port
from tests.support.deployment import Server, sshgate
from tests.support.tls import self_signed

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


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
