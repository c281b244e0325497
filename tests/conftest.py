"""What every test shares: the repository on sys.path, no developer agent or ssh config, the
PostgreSQL fixtures, and the tiers.

Tiers, by folder (a conftest's `pytestmark` marks nothing, so the folder decides here):
- tests/unit/ and tests/api/: in-process; start no server process, no sshd, no PostgreSQL.
- tests/integration/ (`integration`): PostgreSQL clusters and real child processes.
- tests/e2e/ (`e2e`): `sshgate serve`, a real sshd and the stock OpenSSH and git clients.
`scripts/test --fast` runs the first tier; `scripts/test` runs all.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The tests' own ssh/git must never use the developer's agent or config.
os.environ.pop("SSH_AUTH_SOCK", None)
os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")

# A throw-away PostgreSQL server's fixtures: postgres_cluster, postgres_url, postgres_store(s).
pytest_plugins = ["tests.support.postgres"]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost inside the test process: the default costs ~0.2 s of CPU
    a hash, by design, and the in-process tiers hash hundreds of times. Servers that the
    e2e tests start keep the real cost; test_accounts_pure checks the production parameters."""
    from argon2 import PasswordHasher

    from sshgate.accounts import passwords

    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


_DEV_NULL = "/dev/null"


@pytest.fixture(autouse=True)
def dev_null_stays_world_writable() -> object:
    """Something run as root once left /dev/null 0600 on a developer machine, which then
    broke every later git and ssh run as another user (the demo's login user). The test
    that changes it fails by name, and the mode is put back so later tests (and CI runs
    on the same machine) are not hurt by it."""
    before = os.stat(_DEV_NULL).st_mode & 0o777
    yield
    after = os.stat(_DEV_NULL).st_mode & 0o777
    if after != before:
        os.chmod(_DEV_NULL, before)
        pytest.fail(f"this test changed {_DEV_NULL}'s mode from {before:04o} to {after:04o}")


TIERS = ("e2e", "integration")  # folders under tests/ whose tests carry the marker so named
_running_e2e: bool | None = None  # None while collecting (a module may look for sshd to skip)


POSTGRES_FIXTURES = {"postgres_cluster", "postgres_url", "postgres_store", "postgres_stores"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e/ `e2e` and under tests/integration/ `integration`,
    and every test that asks for a PostgreSQL fixture `integration` wherever it is (an API
    test's PostgreSQL variant carries the mark in its fixture's params). tests/unit/ holds
    none: one there stops the collection."""
    tests = Path(__file__).resolve().parent
    for item in items:
        path = Path(str(item.path)).resolve()
        folder = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else ""
        if folder in TIERS:
            item.add_marker(folder)
        if POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            if folder == "unit":
                moved = f"{item.nodeid} starts PostgreSQL: move it to tests/integration/"
                raise pytest.UsageError(moved)
            item.add_marker("integration")


def pytest_configure(config: pytest.Config) -> None:
    """Only an `e2e` test may start sshd: `-m "not e2e"` is the tier without one."""
    from sshgate.demo import sshd

    find_sshd = sshd.find_sshd

    def find_sshd_in_e2e_only() -> str:
        if _running_e2e is False:
            raise AssertionError("a test outside tests/e2e/ starts sshd: move it to tests/e2e/")
        return find_sshd()

    sshd.find_sshd = find_sshd_in_e2e_only


def pytest_runtest_setup(item: pytest.Item) -> None:
    global _running_e2e
    _running_e2e = item.get_closest_marker("e2e") is not None
