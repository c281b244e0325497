"""The embedded SQLite store, against a real database file in tmp_path."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sshgate.policy.model import Endpoint, Environment, OrgRole, Project, ProjectRole
from sshgate.store import (
    AuditEvent,
    AuditOutcome,
    CertificateRecord,
    ConflictError,
    GatewayHostKey,
    NotFoundError,
    SQLiteStore,
    StoreError,
    open_store,
    sqlite_path,
)
from sshgate.store._migrations import load_migrations

PID = "abcdefg123456"
OTHER_PID = "zyxwvut654321"
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA host-a"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB host-b"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sshgate.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore.open(str(db_path))
    try:
        yield s
    finally:
        await s.close()


def raw(db_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """A second, plain connection: what is really on disk, as another process sees it."""
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def project(pid: str = PID, org: str = "acme", git: bool = True) -> Project:
    upstream = Endpoint("git", "git.internal", 22, (KEY_A, KEY_B)) if git else None
    return Project(id=pid, org=org, title="Shop", git_upstream=upstream, git_path="/srv/shop.git")


def environment(name: str = "main", app: str = "app", machine: str = "main-bvxea6i") -> Environment:
    return Environment(PID, name, machine, app, Endpoint("deploy", "10.0.0.5", 2200, (KEY_A,)))


def certificate(
    serial: int, user_id: str, amr: tuple[str, ...] = ("pwd", "mfa")
) -> CertificateRecord:
    return CertificateRecord(
        serial=serial,
        user_id=user_id,
        key_fingerprint="SHA256:abc",
        valid_after=1_700_000_000,
        valid_before=1_700_003_600,
        amr=amr,
        jti="session-1",
        ca_fingerprint="SHA256:ca",
        issued_at=1_700_000_060.5,
    )


@pytest.fixture
async def world(store: SQLiteStore) -> dict[str, str]:
    """An org with a project, an environment and two users: alice (owner) and bob."""
    alice = await store.create_user("alice", "alice@example.com", "hash-a")
    bob = await store.create_user("bob", "bob@example.com", "hash-b")
    await store.create_org("acme", frozenset({"advanced-user-management"}))
    await store.set_member("acme", alice.id, OrgRole.OWNER)
    await store.create_project(project())
    await store.add_environment(environment())
    return {"alice": alice.id, "bob": bob.id}


# opening, files and migrations


async def test_database_file_and_its_folder_are_created_private(
    store: SQLiteStore, db_path: Path
) -> None:
    await store.create_user("alice", "a@example.com", "h")  # makes SQLite write the WAL
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
    wal = Path(f"{db_path}-wal")
    assert wal.exists()
    assert stat.S_IMODE(os.stat(wal).st_mode) == 0o600


async def test_database_file_is_0600_even_under_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        s = await SQLiteStore.open(str(tmp_path / "umask.db"))
    finally:
        os.umask(old)
    await s.create_user("alice", "a@example.com", "h")
    await s.close()
    assert stat.S_IMODE(os.stat(tmp_path / "umask.db").st_mode) == 0o600


async def test_wal_foreign_keys_and_busy_timeout_are_on(store: SQLiteStore, db_path: Path) -> None:
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]  # persistent, seen by others
    rows = await store._db.rows("PRAGMA foreign_keys")
    assert rows[0][0] == 1
    rows = await store._db.rows("PRAGMA busy_timeout")
    assert rows[0][0] == 5000


async def test_foreign_keys_are_enforced(store: SQLiteStore) -> None:
    with pytest.raises(NotFoundError):
        await store._db.rows(
            "INSERT INTO org_members (org, user_id, role) VALUES ('nope', 'nobody', 'member')"
        )


SHIPPED_VERSIONS = [m.version for m in load_migrations()]


async def test_migrations_are_applied_once(db_path: Path) -> None:
    first = await SQLiteStore.open(str(db_path))
    await first.create_user("alice", "a@example.com", "h")
    await first.close()
    before = raw(db_path, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert [v for v, _ in before] == SHIPPED_VERSIONS

    again = await SQLiteStore.open(str(db_path))
    try:
        assert await again.get_user_by_name("alice") is not None  # data survived
    finally:
        await again.close()
    after = raw(db_path, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert after == before


async def test_a_newer_schema_is_refused(db_path: Path) -> None:
    s = await SQLiteStore.open(str(db_path))
    await s.close()
    raw(db_path, "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore.open(str(db_path))


async def test_stores_opened_at_once_on_one_file_both_migrate_cleanly(db_path: Path) -> None:
    stores = await asyncio.gather(*(SQLiteStore.open(str(db_path)) for _ in range(4)))
    for s in stores:
        await s.close()
    versions = raw(db_path, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == SHIPPED_VERSIONS


async def test_a_closed_store_raises_store_error(store: SQLiteStore) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_user("x")
    with pytest.raises(StoreError, match="closed"):
        await store.set_mfa_required("acme", True)


async def test_ping_answers_on_an_open_store(store: SQLiteStore) -> None:
    await store.ping()


# storage.url


@pytest.mark.parametrize(
    ("url", "base_dir", "expected"),
    [
        ("sqlite:///data/sshgate.db", "/etc/sshgate", "/etc/sshgate/data/sshgate.db"),
        ("sqlite:///sshgate.db", "/etc/sshgate", "/etc/sshgate/sshgate.db"),
        ("sqlite:////var/lib/sshgate/sshgate.db", "/etc/sshgate", "/var/lib/sshgate/sshgate.db"),
        ("sqlite:////var/lib/sshgate/sshgate.db", None, "/var/lib/sshgate/sshgate.db"),
        ("sqlite:///:memory:", None, ":memory:"),
    ],
    ids=["relative-nested", "relative", "absolute", "absolute-no-base", "memory"],
)
def test_sqlite_url_names_a_path(url: str, base_dir: str | None, expected: str) -> None:
    assert sqlite_path(url, base_dir) == expected


def test_relative_sqlite_url_without_base_dir_is_relative_to_cwd() -> None:
    assert sqlite_path("sqlite:///x.db") == os.path.join(os.getcwd(), "x.db")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://root:hunter2@db/sshgate", ValueError),
        ("sqlite://relative.db", ValueError),
        ("sqlite:///", ValueError),
        ("/var/lib/sshgate.db", ValueError),
        ("", ValueError),
    ],
    ids=["mysql", "two-slashes", "no-path", "bare-path", "empty"],
)
async def test_unsupported_urls_are_refused(url: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        await open_store(url, "/tmp")
    assert "secret" not in str(info.value) and "hunter2" not in str(info.value)


def test_a_postgresql_url_names_no_file() -> None:
    # open_store opens it as a PostgresStore: see tests/integration/test_store_postgres.py
    with pytest.raises(ValueError, match="PostgreSQL"):
        sqlite_path("postgresql://sshgate:secret@db/sshgate")


async def test_open_store_creates_a_relative_database_beside_the_config(tmp_path: Path) -> None:
    s = await open_store("sqlite:///state/sshgate.db", str(tmp_path))
    try:
        assert isinstance(s, SQLiteStore)
        assert (tmp_path / "state" / "sshgate.db").exists()
        assert stat.S_IMODE(os.stat(tmp_path / "state" / "sshgate.db").st_mode) == 0o600
    finally:
        await s.close()


async def test_an_in_memory_store_works(tmp_path: Path) -> None:
    s = await open_store("sqlite:///:memory:")
    try:
        user = await s.create_user("alice", "a@example.com", "h")
        assert await s.get_user(user.id) == user
    finally:
        await s.close()


# users


async def test_create_user_gives_a_uuid4_and_reads_back(store: SQLiteStore) -> None:
    user = await store.create_user("alice", "alice@example.com", "argon2-hash")
    assert uuid.UUID(user.id).version == 4
    assert user.created_at > 0
    assert not user.disabled and not user.mfa_enabled
    assert await store.get_user(user.id) == user
    assert await store.get_user_by_name("alice") == user
    assert await store.get_password_hash(user.id) == "argon2-hash"


async def test_unknown_users_read_as_none(store: SQLiteStore) -> None:
    assert await store.get_user(str(uuid.uuid4())) is None
    assert await store.get_user_by_name("nobody") is None
    assert await store.get_password_hash("nobody") is None


async def test_a_username_is_taken_once(store: SQLiteStore) -> None:
    await store.create_user("alice", "a@example.com", "h")
    with pytest.raises(ConflictError, match="alice"):
        await store.create_user("alice", "other@example.com", "h2")


async def test_disable_and_enable_a_user(store: SQLiteStore) -> None:
    user = await store.create_user("alice", "a@example.com", "h")
    await store.set_user_disabled(user.id, True)
    assert (await store.get_user(user.id)).disabled  # type: ignore[union-attr]
    await store.set_user_disabled(user.id, False)
    assert not (await store.get_user(user.id)).disabled  # type: ignore[union-attr]


async def test_password_hash_is_replaced(store: SQLiteStore) -> None:
    user = await store.create_user("alice", "a@example.com", "old")
    await store.set_password_hash(user.id, "new")
    assert await store.get_password_hash(user.id) == "new"


async def test_reset_mfa_clears_the_second_factor(store: SQLiteStore, db_path: Path) -> None:
    user = await store.create_user("alice", "a@example.com", "h")
    raw(
        db_path,
        "UPDATE users SET mfa_enabled = 1, mfa_since = 100.0, mfa_secret_enc = x'0102',"
        " mfa_last_step = 55, mfa_failures = 4, mfa_locked_until = 999.0 WHERE id = ?",
        user.id,
    )
    assert (await store.get_user(user.id)).mfa_enabled  # type: ignore[union-attr]

    await store.reset_mfa(user.id, 1234.5)

    after = await store.get_user(user.id)
    assert after is not None
    assert (after.mfa_enabled, after.mfa_since, after.mfa_revoked_at) == (False, None, 1234.5)
    secret, last_step, failures, locked = raw(
        db_path,
        "SELECT mfa_secret_enc, mfa_last_step, mfa_failures, mfa_locked_until FROM users"
        " WHERE id = ?",
        user.id,
    )[0]
    assert (secret, failures, locked) == (None, 0, None)
    assert last_step is None  # spent for the secret that is gone: a new one starts afresh


# organizations


async def test_create_and_read_an_org(store: SQLiteStore) -> None:
    org = await store.create_org("acme", frozenset({"advanced-user-management", "x"}))
    assert org.addons == {"advanced-user-management", "x"}
    assert await store.get_org("acme") == org
    assert await store.get_org("nope") is None


async def test_an_org_name_is_taken_once(store: SQLiteStore) -> None:
    await store.create_org("acme")
    with pytest.raises(ConflictError, match="acme"):
        await store.create_org("acme")


async def test_addons_come_and_go(store: SQLiteStore) -> None:
    await store.create_org("acme")
    await store.set_org_addon("acme", "advanced-user-management", True)
    await store.set_org_addon("acme", "advanced-user-management", True)  # idempotent
    assert (await store.get_org("acme")).addons == {"advanced-user-management"}  # type: ignore[union-attr]
    await store.set_org_addon("acme", "advanced-user-management", False)
    assert (await store.get_org("acme")).addons == frozenset()  # type: ignore[union-attr]


async def test_mfa_required_switches(store: SQLiteStore) -> None:
    await store.create_org("acme")
    await store.set_mfa_required("acme", True)
    assert (await store.get_org("acme")).mfa_required  # type: ignore[union-attr]
    await store.set_mfa_required("acme", False)
    assert not (await store.get_org("acme")).mfa_required  # type: ignore[union-attr]


async def test_members_are_set_updated_listed_and_removed(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    await store.set_member("acme", world["bob"], OrgRole.MEMBER)
    members = await store.list_members("acme")
    assert [(m.user.username, m.role) for m in members] == [
        ("alice", OrgRole.OWNER),
        ("bob", OrgRole.MEMBER),
    ]
    await store.set_member("acme", world["bob"], OrgRole.ADMIN)
    assert [m.role for m in await store.list_members("acme")] == [OrgRole.OWNER, OrgRole.ADMIN]

    await store.remove_member("acme", world["bob"])
    assert [m.user.username for m in await store.list_members("acme")] == ["alice"]
    with pytest.raises(NotFoundError, match="not a member"):
        await store.remove_member("acme", world["bob"])
    assert await store.list_members("nope") == []


async def test_orgs_of_a_user_carry_role_and_addons(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    await store.create_org("beta")
    await store.set_member("beta", world["alice"], OrgRole.MEMBER)
    orgs = await store.orgs_of(world["alice"])
    assert [(o.name, o.addons, role) for o, role in orgs] == [
        ("acme", frozenset({"advanced-user-management"}), OrgRole.OWNER),
        ("beta", frozenset(), OrgRole.MEMBER),
    ]
    assert await store.orgs_of(world["bob"]) == []


async def test_a_role_outside_the_enum_is_refused(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    with pytest.raises(ValueError):
        await store.set_member("acme", world["bob"], "superuser")  # type: ignore[arg-type]
    with pytest.raises(StoreError):  # the CHECK constraint backs the enum
        await store._db.rows(
            "INSERT INTO org_members (org, user_id, role) VALUES ('acme', ?, 'superuser')",
            world["bob"],
        )


# projects, grants and environments


@pytest.mark.parametrize("git", [True, False], ids=["with-git", "without-git"])
async def test_project_roundtrip(store: SQLiteStore, git: bool) -> None:
    await store.create_org("acme")
    created = await store.create_project(project(git=git))
    assert await store.get_project(PID) == created
    assert await store.get_project(OTHER_PID) is None


async def test_projects_are_listed_per_org(store: SQLiteStore) -> None:
    await store.create_org("acme")
    await store.create_org("beta")
    await store.create_project(project(PID, "acme"))
    await store.create_project(project(OTHER_PID, "beta"))
    assert [p.id for p in await store.list_projects("acme")] == [PID]
    assert [p.id for p in await store.list_projects()] == [PID, OTHER_PID]
    assert await store.list_projects("nope") == []


async def test_a_project_id_is_taken_once(store: SQLiteStore, world: dict[str, str]) -> None:
    with pytest.raises(ConflictError, match=PID):
        await store.create_project(project())


async def test_a_project_id_must_be_13_characters(store: SQLiteStore) -> None:
    await store.create_org("acme")
    with pytest.raises(StoreError):
        await store.create_project(project("short"))


async def test_a_failed_mutation_leaves_nothing_behind(store: SQLiteStore, db_path: Path) -> None:
    version = await store.policy_version()
    with pytest.raises(NotFoundError, match="organization 'nope'"):
        await store.create_project(project(org="nope"))
    assert raw(db_path, "SELECT COUNT(*) FROM projects") == [(0,)]
    assert await store.policy_version() == version


async def test_grants_are_set_updated_and_removed(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    bob = world["bob"]
    await store.set_grant(PID, bob, ProjectRole.VIEWER)
    assert (await store.access_facts(PID, bob)).project_role == ProjectRole.VIEWER
    await store.set_grant(PID, bob, ProjectRole.CONTRIBUTOR)
    assert (await store.access_facts(PID, bob)).project_role == ProjectRole.CONTRIBUTOR
    await store.remove_grant(PID, bob)
    assert (await store.access_facts(PID, bob)).project_role is None
    with pytest.raises(NotFoundError, match="no grant"):
        await store.remove_grant(PID, bob)


async def test_removing_a_project_removes_its_grants_and_environments(
    store: SQLiteStore, world: dict[str, str], db_path: Path
) -> None:
    await store.set_grant(PID, world["bob"], ProjectRole.ADMIN)
    await store.remove_project(PID)
    assert await store.get_project(PID) is None
    assert raw(db_path, "SELECT COUNT(*) FROM project_grants") == [(0,)]
    assert raw(db_path, "SELECT COUNT(*) FROM environments") == [(0,)]
    assert await store.list_environments(PID) == []


async def test_environment_roundtrip(store: SQLiteStore, world: dict[str, str]) -> None:
    env = environment()
    assert await store.get_environment(PID, "main", "app") == env
    assert await store.get_environment(PID, "main", "web") is None
    assert await store.list_environments(PID) == [env]
    assert env.service == f"{PID}-main-bvxea6i--app"


async def test_a_second_app_keeps_the_environment_machine_name(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    stored = await store.add_environment(environment(app="web", machine="main-zzzzzzz"))
    assert stored.machine_name == "main-bvxea6i"
    assert stored.service == f"{PID}-main-bvxea6i--web"
    assert await store.get_environment(PID, "main", "web") == stored
    other = await store.add_environment(environment(name="staging", machine="staging-1234567"))
    assert other.machine_name == "staging-1234567"


async def test_an_app_of_an_environment_is_added_once(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    with pytest.raises(ConflictError, match="app"):
        await store.add_environment(environment())


async def test_environment_host_keys_are_replaced(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    await store.set_environment_host_keys(PID, "main", "app", (KEY_B,))
    env = await store.get_environment(PID, "main", "app")
    assert env is not None and env.upstream.host_keys == (KEY_B,)
    with pytest.raises(ValueError, match="one non-empty line"):
        await store.set_environment_host_keys(PID, "main", "app", (f"{KEY_A}\n{KEY_B}",))


async def test_remove_one_app_or_the_whole_environment(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    await store.add_environment(environment(app="web"))
    await store.add_environment(environment(app="worker"))
    await store.remove_environment(PID, "main", "web")
    assert [e.app for e in await store.list_environments(PID)] == ["app", "worker"]
    await store.remove_environment(PID, "main", None)
    assert await store.list_environments(PID) == []
    with pytest.raises(NotFoundError):
        await store.remove_environment(PID, "main", None)


async def test_access_facts_read_everything_a_decision_needs(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    await store.set_mfa_required("acme", True)
    await store.set_grant(PID, world["alice"], ProjectRole.VIEWER)
    facts = await store.access_facts(PID, world["alice"])
    assert facts.project == project()
    assert facts.project is not None and facts.project.git_upstream is not None
    assert facts.project.git_upstream.host_keys == (KEY_A, KEY_B)
    assert facts.org is not None
    assert (facts.org.name, facts.org.mfa_required) == ("acme", True)
    assert facts.org.addons == {"advanced-user-management"}
    assert facts.org_role == OrgRole.OWNER
    assert facts.project_role == ProjectRole.VIEWER
    assert facts.environments == (environment(),)

    bob = await store.access_facts(PID, world["bob"])
    assert (bob.org_role, bob.project_role) == (None, None)
    assert bob.project == facts.project


async def test_access_facts_of_a_missing_project_are_empty(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    facts = await store.access_facts(OTHER_PID, world["alice"])
    assert facts.project is None and facts.org is None
    assert (facts.org_role, facts.project_role, facts.environments) == (None, None, ())


# mutations that name something missing

MISSING_USER = "00000000-0000-4000-8000-000000000000"
ENDPOINT = Endpoint("u", "h", 22)
Mutation = Callable[[SQLiteStore], Awaitable[object]]
NOT_FOUND: list[tuple[str, Mutation]] = [
    ("disable-user", lambda s: s.set_user_disabled(MISSING_USER, True)),
    ("password", lambda s: s.set_password_hash(MISSING_USER, "h")),
    ("reset-mfa", lambda s: s.reset_mfa(MISSING_USER, 1.0)),
    ("addon", lambda s: s.set_org_addon("nope", "x", True)),
    ("mfa-required", lambda s: s.set_mfa_required("nope", True)),
    ("member-org", lambda s: s.set_member("nope", MISSING_USER, OrgRole.MEMBER)),
    ("member-user", lambda s: s.set_member("acme", MISSING_USER, OrgRole.MEMBER)),
    ("member-remove", lambda s: s.remove_member("nope", MISSING_USER)),
    ("project-org", lambda s: s.create_project(project(OTHER_PID, org="nope"))),
    ("project-remove", lambda s: s.remove_project(OTHER_PID)),
    ("grant-project", lambda s: s.set_grant(OTHER_PID, MISSING_USER, ProjectRole.VIEWER)),
    ("grant-user", lambda s: s.set_grant(PID, MISSING_USER, ProjectRole.VIEWER)),
    ("grant-remove", lambda s: s.remove_grant(OTHER_PID, MISSING_USER)),
    ("env-project", lambda s: s.add_environment(Environment(OTHER_PID, "m", "m-1", "a", ENDPOINT))),
    ("env-host-keys", lambda s: s.set_environment_host_keys(PID, "nope", "app", ())),
    ("env-remove", lambda s: s.remove_environment(PID, "main", "nope")),
    ("cert-user", lambda s: s.record_certificate(certificate(1, MISSING_USER))),
    ("revoke-user", lambda s: s.revoke_user_certificates(MISSING_USER, 1.0)),
    ("audit-outcome", lambda s: s.audit_outcome(424242, AuditOutcome(0, 0, 0, 0.0))),
]


@pytest.mark.parametrize("mutation", [m for _, m in NOT_FOUND], ids=[n for n, _ in NOT_FOUND])
async def test_a_mutation_naming_something_missing_raises_not_found(
    store: SQLiteStore, world: dict[str, str], mutation: Mutation
) -> None:
    version = await store.policy_version()
    with pytest.raises(NotFoundError):
        await mutation(store)
    assert await store.policy_version() == version


# certificates

SERIALS = [0, 1, 2**62, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1]


@pytest.mark.parametrize("serial", SERIALS, ids=[hex(s) for s in SERIALS])
async def test_certificate_serials_roundtrip_across_64_bits(
    store: SQLiteStore, world: dict[str, str], serial: int
) -> None:
    record = certificate(serial, world["alice"])
    await store.record_certificate(record)
    assert await store.get_certificate(serial) == record


async def test_high_and_low_serials_do_not_collide(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    low, high = 1, 2**63 + 1
    await store.record_certificate(certificate(low, world["alice"]))
    await store.record_certificate(certificate(high, world["bob"]))
    assert (await store.get_certificate(low)).user_id == world["alice"]  # type: ignore[union-attr]
    assert (await store.get_certificate(high)).user_id == world["bob"]  # type: ignore[union-attr]
    assert await store.get_certificate(2**64 - 1) is None


@pytest.mark.parametrize("serial", [-1, 2**64], ids=["negative", "65-bit"])
async def test_serials_outside_64_bits_are_refused(
    store: SQLiteStore, world: dict[str, str], serial: int
) -> None:
    with pytest.raises(ValueError):
        await store.record_certificate(certificate(serial, world["alice"]))


async def test_a_serial_is_recorded_once(store: SQLiteStore, world: dict[str, str]) -> None:
    await store.record_certificate(certificate(2**64 - 1, world["alice"]))
    with pytest.raises(ConflictError, match=str(2**64 - 1)):
        await store.record_certificate(certificate(2**64 - 1, world["bob"]))


async def test_amr_is_stored_as_compact_json(
    store: SQLiteStore, world: dict[str, str], db_path: Path
) -> None:
    await store.record_certificate(certificate(7, world["alice"], ("pwd", "mfa")))
    assert raw(db_path, "SELECT amr FROM certificates") == [('["pwd","mfa"]',)]
    assert json.loads(str(raw(db_path, "SELECT amr FROM certificates")[0][0])) == ["pwd", "mfa"]


async def test_revoke_one_certificate(store: SQLiteStore, world: dict[str, str]) -> None:
    await store.record_certificate(certificate(2**63 + 5, world["alice"]))
    assert await store.revoke_certificate(2**63 + 5, 50.0) is True
    assert (await store.get_certificate(2**63 + 5)).revoked_at == 50.0  # type: ignore[union-attr]
    assert await store.revoke_certificate(2**63 + 5, 60.0) is True
    assert (await store.get_certificate(2**63 + 5)).revoked_at == 50.0  # type: ignore[union-attr]
    assert await store.revoke_certificate(12345, 60.0) is False


async def test_revoke_user_certificates_counts_the_newly_revoked(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    alice = world["alice"]
    for serial in (1, 2, 3):
        await store.record_certificate(certificate(serial, alice))
    await store.record_certificate(certificate(4, world["bob"]))
    await store.revoke_certificate(1, 10.0)
    assert await store.revoke_user_certificates(alice, 20.0) == 2
    assert await store.revoke_user_certificates(alice, 30.0) == 0
    assert [(await store.get_certificate(s)).revoked_at for s in (1, 2, 3, 4)] == [  # type: ignore[union-attr]
        10.0,
        20.0,
        20.0,
        None,
    ]


# CA keys and gateway host keys


async def test_ca_keys_are_recorded_once_and_older_ones_retired(store: SQLiteStore) -> None:
    await store.record_ca_key("SHA256:one", "ssh-ed25519 AAAA1", 100.0)
    await store.record_ca_key("SHA256:one", "ssh-ed25519 AAAA1", 150.0)  # idempotent
    await store.record_ca_key("SHA256:two", "ssh-ed25519 AAAA2", 200.0)
    keys = await store.list_ca_keys()
    assert [(k.fingerprint, k.added_at, k.retired_at) for k in keys] == [
        ("SHA256:one", 100.0, 200.0),
        ("SHA256:two", 200.0, None),
    ]


async def test_ca_keys_recorded_out_of_order_retire_by_age(store: SQLiteStore) -> None:
    await store.record_ca_key("SHA256:three", "k3", 300.0)
    await store.record_ca_key("SHA256:one", "k1", 100.0)
    await store.record_ca_key("SHA256:two", "k2", 200.0)
    keys = await store.list_ca_keys()
    assert [(k.fingerprint, k.retired_at) for k in keys] == [
        ("SHA256:one", 200.0),
        ("SHA256:two", 300.0),
        ("SHA256:three", None),
    ]


async def test_gateway_host_keys_are_upserted(store: SQLiteStore) -> None:
    await store.record_gateway_host_key(GatewayHostKey(KEY_A, "gw.example.com", 22, 1.0))
    await store.record_gateway_host_key(GatewayHostKey(KEY_B, "gw2.example.com", 2222, 2.0))
    await store.record_gateway_host_key(GatewayHostKey(KEY_A, "gw.example.org", 2022, 3.0))
    assert await store.list_gateway_host_keys() == [
        GatewayHostKey(KEY_B, "gw2.example.com", 2222, 2.0),
        GatewayHostKey(KEY_A, "gw.example.org", 2022, 3.0),
    ]


# audit


def event(time: float, user_id: str | None = "u1", decision: str = "allow") -> AuditEvent:
    return AuditEvent(
        time=time,
        kind="shell",
        decision=decision,
        reason="project-role",
        user_id=user_id,
        serial=2**64 - 1,
        client="192.0.2.1:50000",
        service=f"{PID}-main-bvxea6i--app",
        detail=None,
    )


async def test_audit_event_and_outcome_roundtrip(store: SQLiteStore) -> None:
    audit_id = await store.audit(event(10.0))
    [record] = await store.list_audit()
    assert (record.id, record.event, record.outcome) == (audit_id, event(10.0), None)
    outcome = AuditOutcome(bytes_in=1000, bytes_out=2**40, exit_status=None, duration=1.5)
    await store.audit_outcome(audit_id, outcome)
    [record] = await store.list_audit()
    assert record.outcome == outcome


async def test_list_audit_filters_and_keeps_the_newest_last(store: SQLiteStore) -> None:
    for t, user in [(30.0, "u1"), (10.0, "u2"), (20.0, "u1"), (40.0, None)]:
        await store.audit(event(t, user))
    assert [r.event.time for r in await store.list_audit()] == [10.0, 20.0, 30.0, 40.0]
    assert [r.event.time for r in await store.list_audit(since=20.0)] == [20.0, 30.0, 40.0]
    assert [r.event.time for r in await store.list_audit(user_id="u1")] == [20.0, 30.0]
    assert [r.event.time for r in await store.list_audit(since=25.0, user_id="u1")] == [30.0]
    assert [r.event.time for r in await store.list_audit(limit=2)] == [30.0, 40.0]
    assert await store.list_audit(limit=0) == []


# policy version

MUTATIONS: list[tuple[str, Callable[[SQLiteStore, dict[str, str]], Awaitable[object]]]] = [
    ("disable-user", lambda s, w: s.set_user_disabled(w["bob"], True)),
    ("enable-user", lambda s, w: s.set_user_disabled(w["bob"], False)),
    ("reset-mfa", lambda s, w: s.reset_mfa(w["bob"], 5.0)),
    ("password", lambda s, w: s.set_password_hash(w["bob"], "new")),
    ("mfa-required-on", lambda s, w: s.set_mfa_required("acme", True)),
    ("mfa-required-off", lambda s, w: s.set_mfa_required("acme", False)),
    ("addon-add", lambda s, w: s.set_org_addon("acme", "extra", True)),
    ("addon-remove", lambda s, w: s.set_org_addon("acme", "advanced-user-management", False)),
    ("member-set", lambda s, w: s.set_member("acme", w["bob"], OrgRole.ADMIN)),
    ("member-remove", lambda s, w: s.remove_member("acme", w["alice"])),
    ("project-create", lambda s, w: s.create_project(project(OTHER_PID))),
    ("project-remove", lambda s, w: s.remove_project(PID)),
    ("grant-set", lambda s, w: s.set_grant(PID, w["bob"], ProjectRole.CONTRIBUTOR)),
    ("env-add", lambda s, w: s.add_environment(environment(app="web"))),
    ("env-host-keys", lambda s, w: s.set_environment_host_keys(PID, "main", "app", (KEY_B,))),
    ("env-remove", lambda s, w: s.remove_environment(PID, "main", "app")),
    ("cert-revoke", lambda s, w: s.revoke_certificate(99, 5.0)),
    ("cert-revoke-user", lambda s, w: s.revoke_user_certificates(w["alice"], 5.0)),
    ("ca-key-added", lambda s, w: s.record_ca_key("SHA256:new", "ssh-ed25519 AAAA", 5.0)),
]


@pytest.mark.parametrize("mutation", [m for _, m in MUTATIONS], ids=[n for n, _ in MUTATIONS])
async def test_policy_version_moves_on_every_decision_changing_mutation(
    store: SQLiteStore,
    world: dict[str, str],
    mutation: Callable[[SQLiteStore, dict[str, str]], Awaitable[object]],
) -> None:
    await store.record_certificate(certificate(99, world["alice"]))
    before = await store.policy_version()
    await mutation(store, world)
    assert await store.policy_version() > before


async def test_grant_removal_moves_the_policy_version(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    await store.set_grant(PID, world["bob"], ProjectRole.VIEWER)
    before = await store.policy_version()
    await store.remove_grant(PID, world["bob"])
    assert await store.policy_version() > before


async def test_reads_and_bookkeeping_leave_the_policy_version_alone(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    before = await store.policy_version()
    await store.access_facts(PID, world["alice"])
    await store.get_user(world["alice"])
    await store.audit(event(1.0))
    await store.record_certificate(certificate(5, world["alice"]))
    await store.record_gateway_host_key(GatewayHostKey(KEY_A, "gw", 22, 1.0))
    assert await store.policy_version() == before


async def test_another_process_sees_the_policy_version_move(
    store: SQLiteStore, world: dict[str, str], db_path: Path
) -> None:
    other = await SQLiteStore.open(str(db_path))
    try:
        before = await other.policy_version()
        await store.set_mfa_required("acme", True)
        assert await other.policy_version() == before + 1
        assert (await other.get_org("acme")).mfa_required  # type: ignore[union-attr]
    finally:
        await other.close()


async def test_concurrent_mutations_on_one_store_are_all_counted(
    store: SQLiteStore, world: dict[str, str]
) -> None:
    before = await store.policy_version()
    await asyncio.gather(
        *(store.set_mfa_required("acme", i % 2 == 0) for i in range(25)),
        *(store.audit(event(float(i))) for i in range(25)),
        *(store.access_facts(PID, world["alice"]) for _ in range(25)),
    )
    assert await store.policy_version() == before + 25
    assert len(await store.list_audit()) == 25
