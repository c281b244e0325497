"""Route and git command parsing: tables for the documented forms, properties for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshgate.policy.routes import (
    GitCommandError,
    GitOperation,
    GitRoute,
    ServiceRoute,
    parse_git_command,
    parse_route,
    upstream_git_command,
)

PID = "abcdefg123456"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (PID, GitRoute(PID)),
        (f"{PID}-main-bvxea6i--app", ServiceRoute(PID, "main-bvxea6i", "main", "app")),
        (
            f"{PID}-feature-x-bvxea6i--web_1",
            ServiceRoute(PID, "feature-x-bvxea6i", "feature-x", "web_1"),
        ),
        (f"{PID}-a-1234567--b", ServiceRoute(PID, "a-1234567", "a", "b")),
        ("abcdefg12345", None),  # 12 chars
        ("ABCDEFG123456", None),
        (f"{PID}-main-bvxea6--app", None),  # 6-char suffix
        (f"{PID}-main-bvxea6i--", None),
        (f"{PID}-main-bvxea6i---app", None),
        (f"{PID}-ma--in-bvxea6i--app", None),
        (f"{PID}--main-bvxea6i--app", None),
        (f"{PID}-main-bvxea6i--app--x", None),
        (f"{PID}-main-bvxea6i--app/../x", None),
        (f"{PID}-main-bvxea6i--app\n", None),
        ("", None),
        ("root", None),
    ],
)
def test_parse_route(user: str, expected: object) -> None:
    assert parse_route(user) == expected


@pytest.mark.parametrize(
    ("command", "operation"),
    [
        (f"git-upload-pack '{PID}.git'", GitOperation.UPLOAD_PACK),
        (f"git-upload-pack '/{PID}.git'", GitOperation.UPLOAD_PACK),
        (f"git-receive-pack '{PID}.git'", GitOperation.RECEIVE_PACK),
        (f"git-upload-archive '{PID}.git'", GitOperation.UPLOAD_ARCHIVE),
        (f"git upload-pack '{PID}'", GitOperation.UPLOAD_PACK),
        (f"git receive-pack /{PID}", GitOperation.RECEIVE_PACK),
        (f'git-upload-pack "{PID}.git"', GitOperation.UPLOAD_PACK),
    ],
)
def test_accepted_git_commands(command: str, operation: GitOperation) -> None:
    assert parse_git_command(command, PID) is operation


@pytest.mark.parametrize(
    "command",
    [
        "",
        "id",
        "git-upload-pack",
        f"git-upload-pack '{PID}.git' extra",
        f"git-upload-pack --upload-pack=id '{PID}.git'",
        "git-upload-pack 'other00000000.git'",
        f"git-upload-pack '../{PID}.git'",
        f"git-upload-pack '/srv/{PID}.git'",
        f"git-upload-pack '{PID}.git; id'",
        f"git-upload-pack '{PID}.git'; id",
        f"git-upload-pack $(id) '{PID}.git'",
        f"git-upload-pack '{PID}.git\nid'",
        f"git-upload-pack '{PID}.git\x00'",
        f"git-upload-pack '{PID}.git",
        f"git-lfs-authenticate {PID}.git download",
        f"git upload-pack {PID} x",
        f"git-upload-pack {'x' * (1 << 20)}",
        f"GIT_DIR=/ git-upload-pack '{PID}.git'",
    ],
)
def test_refused_git_commands(command: str) -> None:
    with pytest.raises(GitCommandError):
        parse_git_command(command, PID)


@given(st.text(max_size=200))
def test_nothing_accepted_names_another_repository(command: str) -> None:
    try:
        operation = parse_git_command(command, PID)
    except GitCommandError:
        return
    # Whatever was accepted, the upstream command is built from the project's own path.
    assert upstream_git_command(operation, "/srv/repo.git") in {
        f"{op.value} /srv/repo.git" for op in GitOperation
    }


@given(st.text(max_size=80))
def test_parse_route_never_raises_and_round_trips(user: str) -> None:
    route = parse_route(user)
    if isinstance(route, ServiceRoute):
        assert f"{route.project_id}-{route.machine_name}--{route.app}" == user
    elif isinstance(route, GitRoute):
        assert route.project_id == user


def test_upstream_command_quotes_the_path() -> None:
    assert upstream_git_command(GitOperation.RECEIVE_PACK, "/srv/my repo.git") == (
        "git-receive-pack '/srv/my repo.git'"
    )
