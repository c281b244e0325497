"""An org at level phishing-resistant through the real gateway: a certificate from a login
with a security key (`hwk`) gets in; one from an authenticator code is refused with the
documented message, byte for byte; switching the level on closes such a session within 10
seconds while a key session stays open.

The certificates are signed by the deployment's CA with the amr the API gives each kind of
login (the WebAuthn sign-in itself is tested in the API and Chromium tests)."""

from __future__ import annotations

import time

import pytest

from sshgate.policy.amr import WITH_CODE, WITH_KEY
from tests.e2e.conftest import Deployment
from tests.e2e.test_live_policy import CLOSE_DEADLINE, MARGIN, open_interactive
from tests.support.deployment import Client


@pytest.fixture(scope="module")
def keyed(deployment: Deployment) -> Client:
    """kim: MFA on, her certificate from a login with a security key."""
    return member_with(deployment, "kim", WITH_KEY)


@pytest.fixture(scope="module")
def coded(deployment: Deployment) -> Client:
    """cody: MFA on, his certificate from a login with an authenticator code."""
    return member_with(deployment, "cody", WITH_CODE)


def member_with(d: Deployment, name: str, amr: tuple[str, ...]) -> Client:
    d.add_user(name)
    d.enable_mfa(name)
    d.admin("org", "member", "opensrc", name, "--role", "member")
    d.admin("project", "grant", d.open_project, name, "--role", "contributor")
    client = d.client(name)
    d.issue(client, name, amr)
    return client


def expected_refusal(d: Deployment, name: str, end: str) -> bytes:
    lines = [
        "Error: Access denied",
        f"Service: {d.open_service}",
        f"User: {name} ({d.users[name]})",
        'Parameters: {"amr":["hwk"]}',
        "Detail: Additional authentication is required:",
        "\t - Phishing-resistant multifactor authentication (security key or passkey)",
    ]
    return "".join(line + end for line in lines).encode()


def test_switching_to_phishing_resistant_closes_code_sessions_and_keeps_key_sessions(
    deployment: Deployment, keyed: Client, coded: Client
) -> None:
    d = deployment
    code_session = open_interactive(coded, d.open_service)
    key_session = open_interactive(keyed, d.open_service)
    try:
        switched_at = time.monotonic()
        switched = d.admin("org", "mfa-required", "opensrc", "on", "--level", "phishing-resistant")
        assert switched["mfa_level"] == "phishing-resistant"
        assert switched["sessions_to_close"] == 1  # cody's, not kim's
        code_session.wait(timeout=CLOSE_DEADLINE + MARGIN)
        assert time.monotonic() - switched_at < CLOSE_DEADLINE + MARGIN
        assert code_session.returncode == 1
        err = code_session.stderr.read() if code_session.stderr else b""
        assert expected_refusal(d, "cody", "\r\n") in err
        assert key_session.poll() is None, "a session from a key login must stay open"

        refused = coded.ssh(d.open_service, "echo hello")
        assert refused.returncode == 1
        assert refused.stderr == expected_refusal(d, "cody", "\n")
        allowed = keyed.ssh(d.open_service, "echo hello")
        assert allowed.returncode == 0 and allowed.stdout == b"hello\n", allowed.stderr
    finally:
        d.admin("org", "mfa-required", "opensrc", "off")
        for proc in (code_session, key_session):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    records = d.admin("audit", "--since", "10m", "--user", "cody")["items"]
    assert any(
        r["decision"] == "close" and r["reason"] == "phishing-resistant-mfa-required"
        for r in records
    )
