from tests.e2e.conftest import Deployment
from tests.support.deployment import Client


def test_alice_with_mfa_runs_a_command(deployment: Deployment, alice: Client) -> None:
    result = alice.ssh(deployment.service, "echo", "hello")
    assert result.returncode == 0, (result.stderr, deployment.server.log(), deployment.env.log()[-3000:])
    assert result.stdout == b"hello\n"
