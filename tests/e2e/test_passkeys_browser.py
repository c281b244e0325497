"""Security keys in a real Chromium (Debian's, through Playwright) with Chromium's virtual
authenticator (the DevTools WebAuthn domain over a CDP session): a developer signs in to the
Console, adds a passkey in My profile, signs out, signs in with password + passkey; the login
session that sign-in opened has amr ["pwd","hwk","mfa"], and a certificate issued from it
gets through the gateway into an org at level phishing-resistant, by ssh and git push.

api.public_url is http://localhost:PORT: browsers refuse an IP address as relying party id,
and http://localhost counts as a secure context."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.support.deployment import Client

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    url = {"SSHGATE_API_PUBLIC_URL": "http://localhost:{api_port}"}
    d = start_deployment(tmp_path_factory.mktemp("passkeys"), url)
    try:
        yield d
    finally:
        d.server.stop()
        d.env.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def console(d: Deployment) -> str:
    return f"http://localhost:{d.api_port}"


def sign_in(page: object, d: Deployment, username: str) -> None:
    page.goto(console(d) + "/sign-in")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("button:has-text('Sign in')")  # type: ignore[attr-defined]


def test_add_a_passkey_sign_in_with_it_and_reach_a_phishing_resistant_org(
    deployment: Deployment, browser: object, tmp_path: Path
) -> None:
    d = deployment
    d.add_user("pat")
    d.admin("org", "member", "acme", "pat", "--role", "member")
    d.admin("project", "grant", d.project, "pat", "--role", "contributor")
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    # 1. Sign in (pat has no MFA yet) and add a passkey: MFA goes on, codes shown once.
    sign_in(page, d, "pat")
    page.wait_for_url("**/projects")
    page.goto(console(d) + "/profile")
    page.fill("#key-name", "laptop passkey")
    page.click("button:has-text('Add security key or passkey')")
    page.wait_for_selector("text=Refresh your SSH credentials: run sshgate login -f")
    page.goto(console(d) + "/profile")
    assert page.locator("#security-keys").inner_text().count("laptop passkey") >= 1
    # 2. Sign out, then sign in with password + passkey.
    page.click("details.user-menu summary")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/sign-in")
    sign_in(page, d, "pat")
    page.click("button:has-text('Use security key or passkey')")
    page.wait_for_url("**/projects")
    [bearer] = [c["value"] for c in context.cookies() if c["value"].startswith("sgs_")]
    account = api(d, "GET", "/api/account", bearer)
    assert account["amr"] == ["pwd", "hwk", "mfa"]
    context.close()

    # 3. acme at level phishing-resistant: a certificate from this login gets in.
    d.admin("org", "mfa-required", "acme", "on", "--level", "phishing-resistant")
    try:
        client = d.client("pat")
        answer = api(d, "POST", "/api/ssh/certificate", bearer, {"key": client.public_key})
        client.cert.write_text(answer["certificate"] + "\n")
        assert answer["amr"] == ["pwd", "hwk", "mfa"]
        allowed = client.ssh(d.service, "echo hello")
        assert allowed.returncode == 0 and allowed.stdout == b"hello\n", allowed.stderr
        push = push_a_commit(client, d, tmp_path)
        assert push.returncode == 0, push.stderr
    finally:
        d.admin("org", "mfa-required", "acme", "on")


def api(
    d: Deployment, method: str, path: str, bearer: str, body: object = None
) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        console(d) + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def push_a_commit(
    client: Client, d: Deployment, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    cloned = client.git("clone", "-q", f"{d.project}@gw:{d.project}.git", str(work))
    assert cloned.returncode == 0, cloned.stderr
    (work / "passkey.txt").write_text("pushed by a passkey login\n")
    git = ["-C", str(work), "-c", "user.name=pat", "-c", "user.email=pat@example.com"]
    assert client.git(*git, "add", "passkey.txt").returncode == 0
    assert client.git(*git, "commit", "-q", "-m", "passkey").returncode == 0
    return client.git(*git, "push", "-q", "origin", "HEAD:refs/heads/passkey")
