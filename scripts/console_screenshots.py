#!/usr/bin/env python3
"""Make docs/console-*.png: a screenshot of each Console page, from the real Console.

Sets up a throw-away deployment (`sshgate init`, users, orgs and a project through
`sshgate admin`), runs `sshgate serve --role api` on a free loopback port, and walks the
pages in Debian's Chromium (Playwright, executable_path=/usr/bin/chromium) as an org owner
would. Run from the repository root:

    python scripts/console_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyotp
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, sync_playwright

CLI = [sys.executable, "-m", "sshgate.cli.main"]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "screenshots only 1"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFbvT+HxyGbfS5Vxh1V1ZKrXKyV0MZs9gM3HUv6Hk3Lc env"


class Sink:
    """An SMTP server that accepts every reminder and keeps none."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sshgate(config: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "SSHGATE_CONFIG": str(config)}
    done = subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"sshgate {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def set_up(root: Path) -> tuple[Path, str]:
    data = root / "data"
    subprocess.run([*CLI, "init", "--data-dir", str(data)], check=True, capture_output=True)
    config = data / "config.toml"
    key_file = root / "env_host_key.pub"
    key_file.write_text(HOST_KEY + "\n")
    people = {
        "olga": "owner",
        "adam": "admin",
        "bob": "member",
        "carol": "member",
        "dave": "member",
        "erin": "member",
    }
    for name in people:
        sshgate(config, "admin", "user", "add", name, "--email", f"{name}@example.com",
                "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    sshgate(config, "admin", "org", "add", "acme", "--addon", "advanced-user-management")
    for name, role in people.items():
        sshgate(config, "admin", "org", "member", "acme", name, "--role", role)
    out = sshgate(config, "admin", "project", "add", "acme", "--title", "Acme web",
                  "--git-upstream", "git@10.0.0.5:22:/srv/git/web.git",
                  "--host-key-file", str(key_file), "--json")  # fmt: skip
    project = re.search(r'"id": ?"([a-z0-9]+)"', out)
    assert project is not None
    for env in ("main", "staging"):
        sshgate(config, "admin", "env", "add", project.group(1), env, "--upstream",
                "deploy@10.0.0.7:22", "--host-key-file", str(key_file))  # fmt: skip
    return config, project.group(1)


def shot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"console-{name}.png"), full_page=True)
    print(f"wrote {out / f'console-{name}.png'}")


def sign_in(page: Page, url: str, username: str, code: str | None = None) -> None:
    page.goto(url + "/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if code is not None:
        page.get_by_label("Authentication code").fill(code)
        page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Projects").wait_for()


def walk(page: Page, url: str, out: Path) -> None:
    page.goto(url + "/sign-in")
    page.get_by_label("Username").fill("olga")
    shot(page, out, "sign-in")
    sign_in(page, url, "olga")
    shot(page, out, "projects")
    page.goto(url + "/profile")
    shot(page, out, "profile")
    page.get_by_role("button", name="Set up application").click()
    shot(page, out, "set-up-application")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    now_step = int(time.time() // 30)
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(now_step * 30))
    page.get_by_role("button", name="Verify & save").click()
    shot(page, out, "recovery-codes")
    page.locator("details.user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.goto(url + "/sign-in")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    shot(page, out, "authentication-code")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at((now_step + 1) * 30))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Projects").wait_for()
    page.locator("details.org-menu summary").click()
    shot(page, out, "organization-menu")
    page.goto(url + "/orgs/acme/security")
    page.locator('input[name="user"][value="bob"]').check()
    page.locator('tr[data-username="carol"] summary').click()
    shot(page, out, "security")
    page.locator('tr[data-username="carol"] summary').click()
    page.get_by_label("Name", exact=True).check()
    page.get_by_role("button", name="Remind", exact=True).click()
    shot(page, out, "security-reminded")
    page.get_by_role("switch", name="Enable MFA").click()
    shot(page, out, "confirm-mfa-required")
    page.get_by_role("button", name="Confirm: enable MFA").click()
    page.goto(url + "/tokens")
    page.get_by_label("Name").fill("ci-deploy")
    page.get_by_role("button", name="Create token").click()
    shot(page, out, "api-tokens")
    page.locator("details.user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, url, "bob")
    page.goto(url + "/orgs/acme")
    shot(page, out, "mfa-required-403")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sshgate-shots-") as tmp:
        config, _project = set_up(Path(tmp))
        port, mail_port = free_port(), free_port()
        mail = Controller(Sink(), hostname="127.0.0.1", port=mail_port)
        mail.start()
        env = {
            **os.environ,
            "SSHGATE_CONFIG": str(config),
            "SSHGATE_API_LISTEN": f"127.0.0.1:{port}",
            # A host name, not an IP address: browsers allow passkeys only there.
            "SSHGATE_API_PUBLIC_URL": f"http://localhost:{port}",
            "SSHGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_GATEWAY_LISTEN": f"127.0.0.1:{free_port()}",
            "SSHGATE_GATEWAY_PUBLIC_PORT": "22",
            "SSHGATE_GATEWAY_PUBLIC_HOST": "ssh.example.com",
            "SSHGATE_MAIL_HOST": "127.0.0.1",
            "SSHGATE_MAIL_PORT": str(mail_port),
        }
        server = subprocess.Popen(
            [*CLI, "serve", "--role", "api"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            assert server.stderr is not None
            for line in server.stderr:
                if "event=ready" in line or '"event":"ready"' in line:
                    break
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(viewport={"width": 1200, "height": 760})
                walk(page, f"http://localhost:{port}", args.out)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
            mail.stop()


if __name__ == "__main__":
    main()
