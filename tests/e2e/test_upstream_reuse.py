"""The gateway reuses a user's upstream connection for that user's next connection to the
same environment, and never for another user."""

from __future__ import annotations

from tests.e2e.conftest import Deployment
from tests.support.deployment import Client, upstream_logins


def test_a_users_next_connection_reuses_the_upstream_login_and_another_user_does_not(
    deployment: Deployment, alice: Client, bob: Client
) -> None:
    d = deployment
    d.admin("org", "member", "opensrc", "alice", "--role", "member")
    d.admin("project", "grant", d.open_project, "alice", "--role", "contributor")
    first = alice.ssh(d.open_service, "echo one")
    assert first.returncode == 0, first.stderr
    logins = upstream_logins(d.env)
    again = alice.ssh(d.open_service, "echo two")
    assert again.returncode == 0 and again.stdout == b"two\n"
    assert upstream_logins(d.env) == logins, "alice's second connection logged in again"
    other = bob.ssh(d.open_service, "whoami")
    assert other.returncode == 0
    assert upstream_logins(d.env) == logins + 1, "bob must get his own upstream login"
    # The upstream login names the sshgate user behind it.
    assert f"sshgate:bob:{d.users['bob']}" in d.env.log()
