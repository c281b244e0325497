"""Security keys in a real Chromium (Debian's, through Playwright) with Chromium's virtual
authenticator (the DevTools WebAuthn domain over a CDP session): a developer signs in to the
Console, adds a passkey in My profile, signs out, signs in with password + passkey (amr
["pwd","hwk","mfa"]); runs `sshgate login --web` with the test playing the browser (it opens
the URL the CLI printed and allows); `sshgate cert info` shows hwk, and ssh and git push get
through the gateway into an org at level phishing-resistant.

api.public_url is http://localhost:PORT: browsers refuse an IP address as relying party id,
and http://localhost counts as a secure context."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, Deployment, start_deployment
from tests.e2e.test_login_flow import User, code_after, remote
from tests.support.deployment import CLI

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


def with_virtual_authenticator(browser: object) -> tuple[Any, Any]:
    """A new browser context and page with Chromium's virtual authenticator (a passkey that
    verifies the user) attached through the DevTools WebAuthn domain."""
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
    return context, page


def add_a_passkey_and_sign_in_with_it(
    context: Any, page: Any, d: Deployment, username: str
) -> list[str]:
    """Sign in (no MFA yet), add a passkey (MFA goes on, recovery codes shown once), sign
    out, sign in with password + passkey; returns the recovery codes the page showed."""
    sign_in(page, d, username)
    page.wait_for_url("**/projects")
    page.goto(console(d) + "/profile")
    page.fill("#key-name", "laptop passkey")
    page.click("button:has-text('Add security key or passkey')")
    page.wait_for_selector("text=Refresh your SSH credentials: run sshgate login -f")
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    page.goto(console(d) + "/profile")
    assert page.locator("#security-keys").inner_text().count("laptop passkey") >= 1
    page.click("details.user-menu summary")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/sign-in")
    sign_in(page, d, username)
    page.click("button:has-text('Use security key or passkey')")
    page.wait_for_url("**/projects")
    [bearer] = [c["value"] for c in context.cookies() if c["value"].startswith("sgs_")]
    assert api(d, "GET", "/api/account", bearer)["amr"] == ["pwd", "hwk", "mfa"]
    return codes


def login_web(page: Any, d: Deployment, user: User) -> None:
    """`sshgate login --web` for `user`, the test playing the browser: it opens the URL the
    CLI printed in `page` (signed in with a passkey) and allows."""
    user.env["SSHGATE_API"] = console(d)
    cli = subprocess.Popen(
        [*CLI, "login", "--web", "--json"],
        env=user.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cli.stderr is not None
        url = ""
        while not url:
            line = cli.stderr.readline()
            assert line, "sshgate login --web printed no URL"
            url = line.strip() if line.strip().startswith("http") else ""
        page.goto(url)
        page.wait_for_selector("text=Allow sshgate on")
        assert f"to get SSH certificates for {user.name}?" in page.inner_text("h1")
        page.click("button:has-text('Allow')")
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err
    assert json.loads(out)["amr"] == ["pwd", "hwk", "mfa"]


def test_add_a_passkey_sign_in_with_it_and_reach_a_phishing_resistant_org(
    deployment: Deployment, browser: object, tmp_path: Path
) -> None:
    d = deployment
    d.add_user("pat")
    d.admin("org", "member", "acme", "pat", "--role", "member")
    d.admin("project", "grant", d.project, "pat", "--role", "contributor")
    context, page = with_virtual_authenticator(browser)
    # 1. Sign in (pat has no MFA yet) and add a passkey: MFA goes on, codes shown once.
    # 2. Sign out, then sign in with password + passkey.
    add_a_passkey_and_sign_in_with_it(context, page, d, "pat")
    # 3. sshgate login --web, the test playing the browser: it opens the URL the CLI
    #    printed, where the passkey sign-in above is the session, and allows.
    pat = User(d, "pat", tmp_path)
    login_web(page, d, pat)
    context.close()
    info = pat.json("cert", "info")
    assert info["amr"] == ["pwd", "hwk", "mfa"] and info["mfa"] is True

    # 4. acme at level phishing-resistant: pat's ssh and git push get in.
    d.admin("org", "mfa-required", "acme", "on", "--level", "phishing-resistant")
    try:
        allowed = pat.ssh(d.service, "echo hello")
        assert allowed.returncode == 0 and allowed.stdout == "hello\n", allowed.stderr
        work = tmp_path / "work"
        cloned = pat.git("clone", "-q", remote(d), str(work))
        assert cloned.returncode == 0, cloned.stderr
        (work / "passkey.txt").write_text("pushed by a passkey login\n")
        git = ["-C", str(work), "-c", "user.name=pat", "-c", "user.email=pat@example.com"]
        assert pat.git(*git, "add", "passkey.txt").returncode == 0
        assert pat.git(*git, "commit", "-q", "-m", "passkey").returncode == 0
        pushed = pat.git(*git, "push", "-q", "origin", "HEAD:refs/heads/passkey")
        assert pushed.returncode == 0, pushed.stderr
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


def test_login_device_is_approved_in_a_browser_elsewhere(
    deployment: Deployment, browser: object, tmp_path: Path
) -> None:
    d = deployment
    d.add_user("dev")
    dev = User(d, "dev", tmp_path)
    dev.env["SSHGATE_API"] = console(d)
    cli = subprocess.Popen(
        [*CLI, "login", "--device", "--json"],
        env=dev.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        assert cli.stderr is not None
        lines = [cli.stderr.readline() for _ in range(3)]
        link = lines[1].strip()
        code = lines[2].strip().rsplit(" ", 1)[-1]
        assert link == console(d) + "/device"  # no code in the link: the person types it
        page = context.new_page()
        page.goto(link)  # signed out: sign in first, then back to the code field
        page.wait_for_url("**/sign-in")
        sign_in(page, d, "dev")
        page.wait_for_selector("text=Allow sshgate on another computer")
        assert page.input_value("#user-code") == ""
        page.fill("#user-code", code)
        page.click("button:has-text('Continue')")
        page.wait_for_selector("text=Allow it only if this code is the one your own terminal")
        page.click("button:has-text('Allow')")
        page.wait_for_selector("text=go back to the terminal")
        out, err = cli.communicate(timeout=60)
    finally:
        context.close()
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err
    assert json.loads(out)["username"] == "dev"
    assert dev.json("cert", "info")["key_id"] == d.users["dev"]


def test_a_passkey_user_adds_an_authenticator_app_in_the_console_and_with_the_cli(
    deployment: Deployment, browser: object, tmp_path: Path
) -> None:
    d = deployment
    d.add_user("kay")
    d.admin("org", "member", "acme", "kay", "--role", "admin")
    context, page = with_virtual_authenticator(browser)
    codes = add_a_passkey_and_sign_in_with_it(context, page, d, "kay")
    assert len(codes) == 10
    used: set[int] = set()
    # My profile → Authentication Settings → Set up application → Verify & save, from the
    # passkey sign-in: the app is added and the recovery codes stay.
    page.goto(console(d) + "/profile")
    page.click("button:has-text('Set up application')")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#verify-code", code_after(secret, used))
    page.click("button:has-text('Verify & save')")
    page.wait_for_selector("text=Authenticator app added")
    assert page.locator("#recovery-codes-kept").is_visible()
    page.goto(console(d) + "/orgs/acme/security")
    row = page.locator("tr", has_text="kay@example.com").inner_text()
    assert "Authenticator app, Security key or passkey" in row

    # The CLI, from `login --web` with the passkey: remove the app (with a recovery code),
    # set it up again and verify: MFA stays on throughout, the codes are kept.
    kay = User(d, "kay", tmp_path)
    login_web(page, d, kay)
    context.close()
    removed = kay.sshgate(
        "mfa", "remove-app", "--password-stdin", "--code", codes[0], "--json", stdin=PASSWORD
    )
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout) == {"mfa": True, "sessions_ended": 0}
    again = kay.json("mfa", "setup")
    verified = kay.json("mfa", "verify", code_after(again["secret"], used))
    assert verified == {"mfa": True, "recovery_codes": []}
    [listed] = [i for i in kay.json("org", "security", "acme")["items"] if i["username"] == "kay"]
    assert listed["mfa"] is True and listed["factors"] == ["totp", "webauthn"]
