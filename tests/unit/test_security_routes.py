"""Properties of what the gateway accepts from a user, over inputs built from the pieces an
attacker would use (other projects' ids, `..`, `/`, quotes, shell operators, options,
control characters) rather than random text, which the parsers refuse trivially:

- an accepted git command names only the project of the SSH user name, and what runs
  upstream is one pack command with the project's configured path as its one argument,
  whatever that path contains: nothing reaches a shell as code;
- an accepted SSH user name names the project its first 13 characters spell, and holds
  nothing but the characters of the naming grammar;
- what a refusal shows of a requested name, and every log line, is one line of printable
  text.
"""

from __future__ import annotations

import io
import logging
import shlex

from hypothesis import given, settings
from hypothesis import strategies as st

from sshgate import logs
from sshgate.policy.messages import SERVICE_DISPLAY_LIMIT, display_service, no_access_message
from sshgate.policy.routes import (
    GitCommandError,
    GitOperation,
    GitRoute,
    ServiceRoute,
    parse_git_command,
    parse_route,
    repository_spellings,
    upstream_git_command,
)

PID = "abcdefg123456"
OTHER = "zzzzzzz999999"

VERBS = [
    "git-upload-pack",
    "git-receive-pack",
    "git-upload-archive",
    "git upload-pack",
    "git receive-pack",
    "git",
    "git-lfs-authenticate",
    "sh",
    "GIT_DIR=/srv/other.git",
]
PIECES = [
    "",
    PID,
    OTHER,
    ".git",
    "/",
    "..",
    "../",
    "/srv/",
    "'",
    '"',
    "\\",
    " ",
    "\t",
    "\n",
    "\x00",
    ";",
    "&&",
    "|",
    "`",
    "$(",
    ")",
    "${IFS}",
    "#",
    "~",
    "*",
    "--upload-pack=",
    "-c",
    "--git-dir=",
    "id",
    "x",
]

VALID_COMMANDS = [
    f"git-upload-pack '{PID}.git'",
    f"git-receive-pack '/{PID}.git'",
    f'git-upload-archive "{PID}"',
    f"git upload-pack /{PID}",
    f"git receive-pack '{PID}.git'",
]


def _insert(base: str, pieces: list[tuple[str, int]]) -> str:
    for piece, where in pieces:
        at = where % (len(base) + 1)
        base = base[:at] + piece + base[at:]
    return base


# Accepted commands with up to three hostile pieces put anywhere, and soups of pieces.
commands = st.one_of(
    st.builds(
        _insert,
        st.sampled_from(VALID_COMMANDS),
        st.lists(st.tuples(st.sampled_from(PIECES), st.integers(0, 80)), max_size=3),
    ),
    st.builds(
        lambda verb, rest: verb + " " + "".join(rest),
        st.sampled_from(VERBS),
        st.lists(st.sampled_from(PIECES), max_size=12),
    ),
)


@settings(max_examples=3000)
@given(commands)
def test_an_accepted_git_command_names_only_its_own_project(command: str) -> None:
    try:
        operation = parse_git_command(command, PID)
    except GitCommandError:
        return
    words = shlex.split(command)
    assert words[-1] in repository_spellings(PID)
    assert OTHER not in command and ".." not in words[-1]
    assert operation in GitOperation


@settings(max_examples=1000)
@given(st.sampled_from(list(GitOperation)), st.text())
def test_the_upstream_command_carries_the_path_as_one_quoted_argument(
    operation: GitOperation, path: str
) -> None:
    # sshd hands the command to the login shell: it must parse back to exactly two words,
    # whatever the configured path holds (quotes, `$(...)`, `;`, newlines).
    command = upstream_git_command(operation, path)
    assert shlex.split(command) == [operation.value, path]


VALID_NAMES = [
    PID,
    OTHER,
    f"{PID}-main-bvxea6i--app",
    f"{OTHER}-main-bvxea6i--app",
    f"{PID}-feature-x-bvxea6i--web_1",
]
NAME_PIECES = [
    "",
    "-",
    "--",
    "/",
    "..",
    "/..",
    "@",
    ":",
    "#",
    "+",
    ".git",
    " ",
    "\n",
    "\x1b",
    "\u00e9",
    "A",
    "_",
    PID,
    OTHER,
    "x" * 40,
]
names = st.builds(
    _insert,
    st.sampled_from(VALID_NAMES),
    st.lists(st.tuples(st.sampled_from(NAME_PIECES), st.integers(0, 80)), max_size=3),
)
GRAMMAR = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@settings(max_examples=3000)
@given(names)
def test_an_accepted_user_name_names_the_project_it_starts_with_and_nothing_else(
    name: str,
) -> None:
    route = parse_route(name)
    if route is None:
        return
    assert set(name) <= GRAMMAR
    assert name.startswith(route.project_id)
    if isinstance(route, GitRoute):
        assert name == route.project_id
    else:
        assert isinstance(route, ServiceRoute)
        assert name == f"{route.project_id}-{route.machine_name}--{route.app}"


@given(st.text())
def test_a_refusal_shows_a_requested_name_as_one_short_printable_line(name: str) -> None:
    shown = display_service(name)
    assert len(shown) <= SERVICE_DISPLAY_LIMIT
    assert all(0x20 <= ord(c) < 0x7F for c in shown)
    lines = no_access_message(name, "alice", "7d7f3c1e")
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in lines)


@given(st.text(), st.text())
def test_a_log_line_stays_one_line_whatever_a_client_sends(service: str, client: str) -> None:
    for fmt in ("text", "json"):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logs._Formatter(fmt))
        logger = logging.getLogger("sshgate.test-security")
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.info("decision", extra={"fields": {"service": service, "client": client}})
        out = stream.getvalue()
        assert out.endswith("\n") and out.count("\n") == 1, out
        assert out[:-1].isprintable(), out
