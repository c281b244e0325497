"""The operator's project, environment and user-add rules in the one service layer
(`sshgate.services.Projects`, `Operator.add_user` and their pure input checks), over a real
SQLite store: what each refuses, word for word as `sshgate admin` prints it, that a refusal
stores and audits nothing, and what an accepted command audits."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sshgate.policy import Endpoint, OrgRole, ProjectRole
from sshgate.services import (
    InvalidRequest,
    NotFound,
    Operator,
    Projects,
    ServiceError,
    check_environment_names,
    check_new_user,
    environment_upstream,
    git_upstream,
)
from sshgate.store.sqlite import SQLiteStore


def refusal_of(check: Callable[[], object]) -> str | None:
    """What `check` refuses with (InvalidRequest's message), or None when it accepts."""
    try:
        check()
    except InvalidRequest as exc:
        return str(exc)
    return None


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheUpstreamServerForTests"
UPSTREAM = Endpoint("git", "repo.example", 22, (KEY,))


@pytest.mark.parametrize(
    ("name", "app", "refusal"),
    [
        ("main", "app", None),
        ("a", "x", None),
        ("staging-2", "web_api", None),
        ("Main", "app", "invalid environment name 'Main'"),
        ("a--b", "app", "invalid environment name 'a--b'"),
        ("-main", "app", "invalid environment name '-main'"),
        ("x" * 33, "app", f"invalid environment name {'x' * 33!r}"),
        ("main", "App", "invalid app name 'App'"),
        ("main", "a--b", "invalid app name 'a--b'"),
        ("main", "", "invalid app name ''"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None,
)
def test_environment_and_app_names_are_checked_with_the_name_in_the_refusal(
    name: str, app: str, refusal: str | None
) -> None:
    assert refusal_of(lambda: check_environment_names(name, app)) == refusal


@pytest.mark.parametrize(
    ("spec", "answer"),
    [
        ("git@repo:22:/srv/web.git", (Endpoint("git", "repo", 22, (KEY,)), "/srv/web.git")),
        ("git@[::1]:2222:/x.git", (Endpoint("git", "::1", 2222, (KEY,)), "/x.git")),
        ("127.0.0.1:/x.git", "expected USER@HOST:PORT:/path/repo.git, got '127.0.0.1:/x.git'"),
        ("git@repo:22", "expected USER@HOST:PORT:/path/repo.git, got 'git@repo:22'"),
        ("git@repo:0:/x.git", "expected USER@HOST:PORT:/path/repo.git, got 'git@repo:0:/x.git'"),
    ],
)
def test_a_git_upstream_is_user_host_port_and_path(
    spec: str, answer: tuple[Endpoint, str] | str
) -> None:
    if isinstance(answer, tuple):
        assert git_upstream(spec, (KEY,)) == answer
    else:
        assert refusal_of(lambda: git_upstream(spec, (KEY,))) == answer


@pytest.mark.parametrize(
    ("spec", "answer"),
    [
        ("app@10.0.0.5:22", Endpoint("app", "10.0.0.5", 22, (KEY,))),
        ("app@host:65536", "expected USER@HOST:PORT, got 'app@host:65536'"),
        ("host:22", "expected USER@HOST:PORT, got 'host:22'"),
        ("app@host:22:/x", "expected USER@HOST:PORT, got 'app@host:22:/x'"),
    ],
)
def test_an_environment_upstream_is_user_host_port(spec: str, answer: Endpoint | str) -> None:
    if isinstance(answer, Endpoint):
        assert environment_upstream(spec, (KEY,)) == answer
    else:
        assert refusal_of(lambda: environment_upstream(spec, (KEY,))) == answer


@pytest.mark.parametrize(
    "check",
    [
        lambda: git_upstream("git@repo:22:/x.git", ()),
        lambda: environment_upstream("app@host:22", ()),
    ],
    ids=["git upstream", "environment upstream"],
)
def test_an_upstream_without_a_pinned_host_key_is_refused(check: Callable[[], object]) -> None:
    assert refusal_of(check) == "no host key: an upstream is pinned to at least one"


@pytest.mark.parametrize(
    ("name", "email", "refusal"),
    [
        ("bob", "bob@example.com", None),
        ("b.o_b-2", "b@x", None),
        ("Bob", "bob@example.com", "invalid username 'Bob': expected ^[a-z][a-z0-9._-]{1,38}$"),
        ("b", "b@example.com", "invalid username 'b': expected ^[a-z][a-z0-9._-]{1,38}$"),
        ("2bob", "b@example.com", "invalid username '2bob': expected ^[a-z][a-z0-9._-]{1,38}$"),
        ("bob", "bob.example.com", "invalid email address 'bob.example.com'"),
        ("bob", "b@" + "x" * 253, f"invalid email address {'b@' + 'x' * 253!r}"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None,
)
def test_a_new_users_name_and_email_are_checked(name: str, email: str, refusal: str | None) -> None:
    assert refusal_of(lambda: check_new_user(name, email)) == refusal


async def _audit(store: SQLiteStore) -> list[tuple[str, str | None, str | None]]:
    return [(r.event.kind, r.event.service, r.event.detail) for r in await store.list_audit(0)]


async def _acme_with_project(store: SQLiteStore) -> str:
    await store.create_org("acme", frozenset())
    for name in ("olga", "bob"):
        await store.create_user(name, f"{name}@example.com", "x")
    await Operator(store).set_member("acme", "olga", OrgRole.MEMBER)
    return (await Projects(store).add_project("acme", "Web", UPSTREAM, "/srv/web.git")).id


async def test_a_grant_to_someone_outside_the_org_is_refused_with_the_member_command(
    store: SQLiteStore,
) -> None:
    project = await _acme_with_project(store)
    before = await _audit(store)
    with pytest.raises(InvalidRequest) as refused:
        await Projects(store).grant(project, "bob", ProjectRole.VIEWER)
    assert str(refused.value) == (
        "bob is not a member of organization acme; add them first:"
        " sshgate admin org member acme bob --role member"
    )
    bob = await store.get_user_by_name("bob")
    assert bob is not None
    assert (await store.access_facts(project, bob.id)).project_role is None
    assert await _audit(store) == before


@pytest.mark.parametrize("role", list(ProjectRole), ids=lambda r: r.value)
async def test_a_grant_to_an_org_member_is_stored_and_audited(
    store: SQLiteStore, role: ProjectRole
) -> None:
    project = await _acme_with_project(store)
    olga = await Projects(store).grant(project, "olga", role)
    assert (await store.access_facts(project, olga.id)).project_role is role
    assert (await _audit(store))[-1] == ("admin:project-grant", project, f"olga={role.value}")


COMMANDS_ON_A_PROJECT = {
    "grant": lambda p, project: p.grant(project, "olga", ProjectRole.VIEWER),
    "revoke": lambda p, project: p.revoke(project, "olga"),
    "remove": lambda p, project: p.remove_project(project),
    "env add": lambda p, project: p.add_environment(project, "main", "app", UPSTREAM),
    "env remove": lambda p, project: p.remove_environment(project, "main", None),
}


@pytest.mark.parametrize("command", COMMANDS_ON_A_PROJECT)
async def test_every_command_on_an_unknown_project_is_not_found_and_not_audited(
    store: SQLiteStore, command: str
) -> None:
    await _acme_with_project(store)
    before = await _audit(store)
    with pytest.raises(NotFound) as refused:
        await COMMANDS_ON_A_PROJECT[command](Projects(store), "nope")
    assert str(refused.value) == "no project with id 'nope'"
    assert await _audit(store) == before


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        ("grant", "no user named 'ghost'"),
        ("revoke", "no user named 'ghost'"),
        ("project add", "no organization named 'nope'"),
        ("env host-key", "no app 'app' of environment 'main' in {project}"),
    ],
)
async def test_an_unknown_user_org_or_environment_is_named_in_the_refusal(
    store: SQLiteStore, command: str, refusal: str
) -> None:
    project = await _acme_with_project(store)
    projects = Projects(store)
    with pytest.raises(NotFound) as refused:
        if command == "grant":
            await projects.grant(project, "ghost", ProjectRole.VIEWER)
        elif command == "revoke":
            await projects.revoke(project, "ghost")
        elif command == "project add":
            await projects.add_project("nope", "Web", UPSTREAM, "/x.git")
        else:
            await projects.set_host_keys(project, "main", "app", (KEY,))
    assert str(refused.value) == refusal.format(project=project)


async def test_the_commands_recheck_their_input_whatever_the_caller_checked(
    store: SQLiteStore,
) -> None:
    project = await _acme_with_project(store)
    projects = Projects(store)
    with pytest.raises(InvalidRequest, match="invalid environment name 'Main'"):
        await projects.add_environment(project, "Main", "app", UPSTREAM)
    with pytest.raises(InvalidRequest, match="no host key"):
        await projects.add_environment(project, "main", "app", Endpoint("a", "h", 22))
    with pytest.raises(InvalidRequest, match="no host key"):
        await projects.add_project("acme", "Web", Endpoint("git", "repo", 22), "/x.git")
    with pytest.raises(InvalidRequest, match="invalid username 'Bob'"):
        await Operator(store).add_user("Bob", "bob@example.com", "x")
    assert await store.list_environments(project) == []
    assert await store.get_user_by_name("Bob") is None


async def test_a_second_app_keeps_the_machine_name_and_a_repeated_app_is_refused(
    store: SQLiteStore,
) -> None:
    project = await _acme_with_project(store)
    projects = Projects(store)
    app = await projects.add_environment(project, "main", "app", UPSTREAM)
    worker = await projects.add_environment(project, "main", "worker", UPSTREAM)
    assert worker.machine_name == app.machine_name
    assert app.service == f"{project}-{app.machine_name}--app"
    with pytest.raises(InvalidRequest) as refused:
        await projects.add_environment(project, "main", "app", UPSTREAM)
    assert str(refused.value) == "app 'app' of environment 'main' already exists"


async def test_a_taken_project_id_is_retried_and_then_given_up(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = await _acme_with_project(store)
    ids = iter([taken, taken, "fresh1234567a"])
    monkeypatch.setattr("sshgate.services.projects.new_project_id", lambda: next(ids))
    created = await Projects(store).add_project("acme", "Api", UPSTREAM, "/srv/api.git")
    assert created.id == "fresh1234567a"
    monkeypatch.setattr("sshgate.services.projects.new_project_id", lambda: taken)
    with pytest.raises(ServiceError) as refused:
        await Projects(store).add_project("acme", "Api", UPSTREAM, "/srv/api.git")
    assert str(refused.value) == "could not allocate a project id; try again"


async def test_a_taken_username_is_refused(store: SQLiteStore) -> None:
    await Operator(store).add_user("bob", "bob@example.com", "x")
    with pytest.raises(InvalidRequest) as refused:
        await Operator(store).add_user("bob", "other@example.com", "y")
    assert str(refused.value) == "user 'bob' already exists"


async def test_each_accepted_command_is_audited_as_the_operator(store: SQLiteStore) -> None:
    operator, projects = Operator(store), Projects(store)
    await store.create_org("acme", frozenset())
    await operator.add_user("olga", "olga@example.com", "x")
    await operator.set_member("acme", "olga", OrgRole.MEMBER)
    project = (await projects.add_project("acme", "Web", UPSTREAM, "/srv/web.git")).id
    await projects.grant(project, "olga", ProjectRole.CONTRIBUTOR)
    env = await projects.add_environment(project, "main", "app", UPSTREAM)
    await projects.set_host_keys(project, "main", "app", (KEY,))
    await projects.remove_environment(project, "main", "app")
    await projects.revoke(project, "olga")
    await projects.remove_project(project)
    assert await _audit(store) == [
        ("admin:user-add", "olga", None),
        ("admin:org-member", "acme", "olga=member"),
        ("admin:project-add", project, "org=acme"),
        ("admin:project-grant", project, "olga=contributor"),
        ("admin:env-add", env.service, "git@repo.example:22"),
        ("admin:env-host-key", env.service, None),
        ("admin:env-remove", f"{project}/main", "app"),
        ("admin:project-revoke", project, "olga"),
        ("admin:project-remove", project, None),
    ]
    records = await store.list_audit(0)
    assert {(r.event.decision, r.event.user_id) for r in records} == {("admin", None)}
    assert await store.get_project(project) is None
