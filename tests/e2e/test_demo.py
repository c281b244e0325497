import pytest

from tests.support.deployment import sshgate

pytestmark = pytest.mark.e2e


def test_demo_check_runs_the_walkthrough_and_passes() -> None:
    result = sshgate("demo", "--check", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "demo check passed"
    assert sum(line.startswith("ok ") for line in lines) == 4
