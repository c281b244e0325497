"""The embedded store: one SQLite file in WAL mode, shared by the sshgate processes of one host.

The statements are shared with the PostgreSQL store (`_directory.py`, `_projects.py`,
`_accounts.py`, `_orgsecurity.py`, `_ledger.py`); this module only opens the file.
"""

from __future__ import annotations

from sshgate.store._accounts import AccountStore
from sshgate.store._clisignin import CliSignInStore
from sshgate.store._database import Database
from sshgate.store._directory import Directory
from sshgate.store._ledger import Ledger
from sshgate.store._orgsecurity import OrgSecurityStore
from sshgate.store._projects import ProjectCatalog
from sshgate.store._securitykeys import SecurityKeyStore
from sshgate.store._totpsetup import TOTPSetupStore


class SQLiteStore(
    Directory,
    ProjectCatalog,
    AccountStore,
    OrgSecurityStore,
    SecurityKeyStore,
    TOTPSetupStore,
    CliSignInStore,
    Ledger,
):
    """`Store` on SQLite. Open with `await SQLiteStore.open(path)`; close when done."""

    _db: Database

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        """Open (creating if needed, mode 0600) and migrate the database at `path`."""
        return cls(await Database.open(path))

    @property
    def path(self) -> str:
        return self._db.path

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        await self._db.rows("SELECT version FROM policy_version WHERE id = 1")
