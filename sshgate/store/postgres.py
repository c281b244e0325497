"""The shared store: one PostgreSQL database for every sshgate process of an organization
(several gateways, API replicas and CAs behind a load balancer).

The statements and the migrations are those of the SQLite store (see `_sql.py` and
`_pgmigrations.py`), so both answer alike. What holds across processes holds because the
database does it in one statement or one locked transaction: a TOTP step is spent by a
compare-and-set, failures are counted by increments, serials are a primary key, and every
policy change bumps `policy_version` in its own transaction, where a trigger notifies the
listeners (`listen_policy_changes`).

When the database cannot be reached, every method raises StoreError, `ping()` included:
callers deny (fail closed). The pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import time

from sshgate.store._accounts import AccountStore
from sshgate.store._clisignin import CliSignInStore
from sshgate.store._directory import Directory
from sshgate.store._ledger import Ledger
from sshgate.store._orgsecurity import OrgSecurityStore
from sshgate.store._pgdatabase import PgDatabase, redacted, translated
from sshgate.store._pglisten import PolicyCallback, PolicyListener
from sshgate.store._pgmigrations import apply_postgres_migrations
from sshgate.store._projects import ProjectCatalog
from sshgate.store._securitykeys import SecurityKeyStore
from sshgate.store._totpsetup import TOTPSetupStore


class PostgresStore(
    Directory,
    ProjectCatalog,
    AccountStore,
    OrgSecurityStore,
    SecurityKeyStore,
    TOTPSetupStore,
    CliSignInStore,
    Ledger,
):
    """`Store` on PostgreSQL. Open with `await PostgresStore.open(url)`; close when done."""

    _db: PgDatabase

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self._listeners: set[PolicyListener] = set()

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """Connect to the database `url` names (`postgresql://user:password@host:port/db`,
        libpq query parameters such as `sslmode` allowed) and migrate it.
        Raises StoreError when the database cannot be reached or migrated."""
        db = await PgDatabase.open(url)
        try:
            conn = await db.connect("migrations")
            try:
                await apply_postgres_migrations(conn, time.time())
            finally:
                with translated():
                    await conn.close()
        except BaseException:
            await db.close()
            raise
        return cls(db)

    @property
    def url(self) -> str:
        """The database's URL without its password."""
        return redacted(self._db.url)

    async def close(self) -> None:
        listeners, self._listeners = self._listeners, set()
        for listener in listeners:
            await listener.stop()
        await self._db.close()

    async def ping(self) -> None:
        await self._db.rows("SELECT version FROM policy_version WHERE id = 1")

    async def listen_policy_changes(self, callback: PolicyCallback) -> PolicyListener:
        """Call `callback(version)` whenever any process moves the policy version, within
        milliseconds of its commit, and once with the current version each time listening
        (re)starts. Raises StoreError when the database cannot be reached now; later losses
        are retried in the background (`listener.connected` says which). Stop it with
        `await listener.stop()`; `close()` stops them all."""
        listener = PolicyListener(lambda: self._db.connect("policy-listener"), callback)
        await listener.start()
        self._listeners.add(listener)
        return listener
