"""Login CSRF from a sibling host, in a real Chromium, over plain HTTP.

The Console is `console.sshgate.test`; the attacker holds `evil.sshgate.test` (both
resolved to 127.0.0.1 by Chromium's host resolver rules). Over plain HTTP the cookies have
no `__Host-` prefix, so the attacker's page can set the csrf nonce cookie for the whole
`sshgate.test` site, and post the sign-in form with the token it got for that nonce and
its own account: without more, the victim's browser ends up signed in as the attacker (who
then reads what the victim enters, say the authenticator secret they set up). Chromium
says where the form came from (`Sec-Fetch-Site: same-site`), and the Console refuses it.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sshgate.demo.sshd import free_port
from tests.support.deployment import Server, sshgate

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@dataclass
class Console:
    url: str  # http://console.sshgate.test:PORT
    local: str  # the same server as http://127.0.0.1:PORT, for the attacker's own requests


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("login-csrf") / "data"
    sshgate("init", "--data-dir", str(data))
    config = data / "config.toml"
    for name in ("victim", "mallory"):
        sshgate(
            "admin", "user", "add", name, "--email", f"{name}@example.com",
            "--password-stdin", config=config, stdin=PASSWORD + "\n",
        )  # fmt: skip
    port = free_port()
    server = Server(
        config,
        {
            "SSHGATE_API_LISTEN": f"127.0.0.1:{port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_API_PUBLIC_URL": f"http://console.sshgate.test:{port}",
        },
        role="api",
    )
    server.start()
    try:
        yield Console(f"http://console.sshgate.test:{port}", f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def attacker_page(console: Console) -> tuple[bytes, bytes]:
    """The attacker's page: a nonce and its signed-out token, fetched by the attacker, the
    nonce set as the csrf cookie of the whole site, and a sign-in form with mallory's
    password."""
    with httpx.Client(base_url=console.local, timeout=30) as attacker:
        form = attacker.get("/sign-in")
        nonce = attacker.cookies["sshgate_csrf"]
    token = CSRF.search(form.text)
    assert token is not None
    return (
        f"<!doctype html><title>win a prize</title>"
        f'<form method="post" action="{console.url}/sign-in">'
        f'<input type="hidden" name="csrf" value="{token.group(1)}">'
        f'<input type="hidden" name="username" value="mallory">'
        f'<input type="hidden" name="password" value="{PASSWORD}">'
        f'<button id="go">Claim</button></form>'
    ).encode(), nonce.encode()


@pytest.fixture
def evil_site(console: Console) -> Iterator[str]:
    page, nonce = attacker_page(console)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header(
                "Set-Cookie", f"sshgate_csrf={nonce.decode()}; Domain=sshgate.test; Path=/"
            )
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://evil.sshgate.test:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_sibling_hosts_sign_in_form_does_not_sign_the_victims_browser_in(
    console: Console, evil_site: str
) -> None:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--host-resolver-rules=MAP *.sshgate.test 127.0.0.1",
            ],
        )
        try:
            page = chromium.new_context().new_page()
            page.goto(evil_site)
            nonces = [c for c in page.context.cookies() if c["name"] == "sshgate_csrf"]
            assert nonces and nonces[0]["domain"] in (".sshgate.test", "sshgate.test")
            with page.expect_navigation():
                page.click("#go")
            assert page.url.startswith(console.url)
            assert "signed in" not in page.content().lower()
            # The victim's browser has no Console session, the attacker's or any other.
            page.goto(f"{console.url}/profile")
            assert page.url == f"{console.url}/sign-in"
            assert "mallory" not in page.content()
            # The Console's own form, in the same browser, still signs the victim in.
            page.fill("input[name=username]", "victim")
            page.fill("input[name=password]", PASSWORD)
            with page.expect_navigation():
                page.press("input[name=password]", "Enter")
            page.goto(f"{console.url}/profile")
            assert page.url == f"{console.url}/profile"
            assert "victim" in page.content()
        finally:
            chromium.close()
