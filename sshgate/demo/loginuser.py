"""The OS account the demo's environment logs everyone in as.

Every sshgate user of an environment logs in upstream as the same OS user (the `USER` of
its `--upstream`). The demo's sshd runs as whoever started the demo, so run by root it
would hand a root shell to anyone who gets through the gateway. Run by root, the demo
therefore creates a dedicated unprivileged account for this one run (`useradd`, no
password, a home of its own that holds the demo's repository) and removes it, home
included, when it stops (`userdel`). Run by anyone else, that user is the login user: an
unprivileged sshd cannot log anyone in as somebody else.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PREFIX = "sshgate-demo-"
# useradd and userdel lock /etc/passwd; another demo (or a test) may hold it a moment.
LOCK_RETRIES = 20
LOCK_RETRY_DELAY = 0.25


class LoginUserError(Exception):
    """The demo's login user could not be created; the message says why."""


@dataclass(frozen=True)
class LoginUser:
    """Who the environment logs in as, and where that user may keep files."""

    name: str
    home: Path
    created: bool  # by this demo run, which removes it again


def account_name() -> str:
    """A fresh name per run (several demos may run on one host): at most 32 characters."""
    return PREFIX + secrets.token_hex(4)


@contextlib.contextmanager
def demo_login_user(fallback_home: Path) -> Iterator[LoginUser]:
    """The login user for one demo run: a new unprivileged account when run as root (removed
    on exit), else the user running the demo, whose files go under `fallback_home`."""
    if os.geteuid() != 0:
        yield LoginUser(getpass.getuser(), fallback_home, created=False)
        return
    name = account_name()
    _run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", name])
    try:
        entry = pwd.getpwnam(name)
        if entry.pw_uid == 0 or entry.pw_gid == 0:  # never, unless useradd was told otherwise
            raise LoginUserError(f"{name} was created with uid or gid 0")
        yield LoginUser(name, Path(entry.pw_dir), created=True)
    finally:
        remove(name)


def remove(name: str) -> None:
    """Remove the account and its home; its processes are gone by now (sshd was stopped),
    and `--force` lets userdel go on if one lingers."""
    with contextlib.suppress(LoginUserError):
        _run(["userdel", "--remove", "--force", name])


def give(user: LoginUser, path: Path) -> None:
    """Make `path` (a file or a folder, recursively) belong to the login user, so that what
    the environment runs as that user can read and write it."""
    if not user.created:
        return
    entry = pwd.getpwnam(user.name)
    for folder, dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in [*dirs, *files]:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _run(command: list[str]) -> None:
    for _ in range(LOCK_RETRIES):
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LoginUserError(f"{command[0]} failed: {exc}") from None
        if result.returncode == 0:
            return
        if "lock" not in result.stderr.lower():
            break
        time.sleep(LOCK_RETRY_DELAY)
    message = (result.stderr.strip().splitlines() or ["no message"])[-1]
    raise LoginUserError(f"{command[0]} exited {result.returncode}: {message}")
