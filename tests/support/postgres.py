"""A throw-away PostgreSQL server for the tests: `initdb` into a temporary folder, listening
only on 127.0.0.1 (a free port) and a unix socket in that folder, trust authentication,
durability off (nothing here must survive a crash). Stopped and removed at the end.

PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user that the
Debian package creates. Without the binaries the PostgreSQL tests skip, unless
SSHGATE_TEST_POSTGRES=1 (set by .ci/run) says they must run: then they fail.

A pytest plugin (tests/conftest.py loads it): the fixtures are at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest

from sshgate.store import PostgresStore

REQUIRED_ENV = "SSHGATE_TEST_POSTGRES"
PREFIX = "sshgate-pg-"
OWNER_FILE = "owner.pid"  # the test session's process id
SUPERUSER = "postgres"
_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/bin")
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def required() -> bool:
    return os.environ.get(REQUIRED_ENV, "") not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it where PostgreSQL must be there (CI)."""
    if required():
        pytest.fail(f"{reason} ({REQUIRED_ENV} is set)", pytrace=False)
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: PATH first, then the newest Debian version."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent  # the real folder, beside `postgres`
    found = [Path(p) for pattern in _SEARCH for p in glob.glob(pattern)]
    found = [p for p in found if (p / "initdb").exists() and (p / "pg_ctl").exists()]
    return max(found, key=_version_key) if found else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_alive(owner: Path) -> bool:
    try:
        os.kill(int(owner.read_text()), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return True  # unreadable, or another user's: not ours to remove
    return True


class PostgresCluster:
    """One server. `url(db)` names a database on it; `create_database()` makes a fresh one;
    `session_database` is the one the store tests share (see `emptied`)."""

    def __init__(self, bindir: Path, root: Path, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = 0
        self.session_database = ""
        self._run_as = run_as
        self._names = itertools.count(1)

    @classmethod
    def create(cls, bindir: Path) -> PostgresCluster:
        run_as = None
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        if os.geteuid() == 0:
            run_as = SUPERUSER
            try:
                account = pwd.getpwnam(run_as)
            except KeyError:
                shutil.rmtree(root)
                raise RuntimeError("running as root, and there is no postgres user") from None
            os.chown(root, account.pw_uid, account.pw_gid)
        (root / OWNER_FILE).write_text(str(os.getpid()))
        cluster = cls(bindir, root, run_as)
        try:
            cluster._run(
                "initdb", "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
                "--no-locale", "-E", "UTF8", "--no-sync",
            )  # fmt: skip
        except BaseException:
            cluster.remove()
            raise
        return cluster

    @classmethod
    def reap_abandoned(cls, bindir: Path) -> None:
        """Stop and remove the clusters of test sessions that died without their teardown
        (killed by a timeout, say): pg_ctl detaches the server, so it would run on."""
        run_as = SUPERUSER if os.geteuid() == 0 else None
        for owner in Path(tempfile.gettempdir()).glob(f"{PREFIX}*/{OWNER_FILE}"):
            if not _session_alive(owner):
                cls(bindir, owner.parent, run_as).remove()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start on a free port; a restart keeps the port unless another process took it."""
        for _ in range(3):
            self.port = self.port or _free_port()
            self._configure()
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")
                return
            except RuntimeError:
                if "could not bind" not in self._log_tail():
                    raise
                self.port = 0
        raise RuntimeError(f"PostgreSQL did not start: {self._log_tail()}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    async def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"sshgate_{next(self._names)}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        return self.url(name)

    def _configure(self) -> None:
        settings = {
            **_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        # postgresql.auto.conf is read last: its values win over the defaults initdb wrote.
        self._write(self.data / "postgresql.auto.conf", lines)

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self._run_as is not None:
            account = pwd.getpwnam(self._run_as)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            timeout=60,
            user=self._run_as,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} exited {result.returncode}: {result.stderr.strip()[-2000:]}"
            )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A started server for the test session, or a skip (a failure under CI) saying why."""
    bindir = find_bindir()
    if bindir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    PostgresCluster.reap_abandoned(bindir)
    try:
        cluster = PostgresCluster.create(bindir)
    except RuntimeError as exc:
        unavailable(f"cannot create a PostgreSQL cluster: {exc}")
    try:
        try:
            cluster.start()
        except RuntimeError as exc:
            unavailable(f"cannot start PostgreSQL: {exc}")
        cluster.session_database = asyncio.run(cluster.create_database()).rsplit("/", 1)[1]
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
async def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The session's database, emptied: each test starts from nothing."""
    return await emptied(postgres_cluster.url(postgres_cluster.session_database))


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    s = await PostgresStore.open(postgres_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def postgres_stores(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores with a pool each: two sshgate processes on one database."""
    a = await PostgresStore.open(postgres_url)
    b = await PostgresStore.open(postgres_url)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def emptied(url: str) -> str:
    """Delete every row of the database at `url` (the schema stays) and restart the policy
    version: one database serves a whole session, each test starting from nothing. Far
    quicker than a database per test."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT IN ('schema_migrations', 'policy_version')"
        )
        if not tables:
            return url  # not migrated yet
        # replica: foreign keys (and the NOTIFY trigger) do not fire, so any order will do
        await conn.execute(
            "SET session_replication_role = replica;"
            + "".join(f"DELETE FROM {r['tablename']};" for r in tables)
            + "UPDATE policy_version SET version = 0;"
            + "ALTER TABLE audit ALTER COLUMN id RESTART;"
        )
    finally:
        await conn.close()
    return url
