"""The OS account the demo's environment logs everyone in as.

Every sshgate user of an environment logs in upstream as the same OS user (the `USER` of
its `--upstream`). The demo's sshd runs as whoever started the demo, so run by root it
would hand a root shell to anyone who gets through the gateway. Run by root, the demo
therefore creates a dedicated unprivileged account for this one run (`useradd`, no
password, a home of its own that holds the demo's repository) and removes it, home
included, when it stops (`userdel`). Run by anyone else, that user is the login user: an
unprivileged sshd cannot log anyone in as somebody else.

A demo killed outright (SIGKILL, a lost terminal session's hard kill) cannot remove its
account, and its sshd, a child that nothing stops, lives on. Each account therefore names
the demo process that made it in its comment field (`sshgate demo pid=P start=T`, T the
process's start time in clock ticks since boot, so that a reused pid is not taken for it),
and every demo run as root first removes the accounts whose demo is gone, after stopping
what still runs as them and the sshd that was serving them.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PREFIX = "sshgate-demo-"
OWNER_MARK = re.compile(r"sshgate demo pid=([1-9][0-9]{0,9}) start=([0-9]{1,20})")
_PROC = Path("/proc")
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
    sweep_stale_accounts()
    name = account_name()
    me, started = os.getpid(), process_start(os.getpid())
    # without /proc, no mark: an account no later run can tell apart from a live one's
    mark = "" if started is None else owner_mark(me, started)
    _run(
        [
            "useradd",
            "--create-home",
            "--shell",
            "/bin/sh",
            "--password",
            "*",
            "--comment",
            mark,
            name,
        ]
    )
    try:
        entry = pwd.getpwnam(name)
        if entry.pw_uid == 0 or entry.pw_gid == 0:  # never, unless useradd was told otherwise
            raise LoginUserError(f"{name} was created with uid or gid 0")
        yield LoginUser(name, Path(entry.pw_dir), created=True)
    finally:
        remove(name)


def owner_mark(pid: int, start: int) -> str:
    """The comment field of an account made by the demo process `pid`, started at `start`."""
    return f"sshgate demo pid={pid} start={start}"


def owner_of(name: str, comment: str) -> tuple[int, int] | None:
    """(pid, start) of the demo that made account `name`, from its comment field; None for
    an account that is not a demo's (never touched)."""
    if not name.startswith(PREFIX):
        return None
    found = OWNER_MARK.fullmatch(comment)
    return (int(found.group(1)), int(found.group(2))) if found else None


def stale_accounts(
    accounts: Iterable[tuple[str, str]], start_of: Callable[[int], int | None]
) -> list[str]:
    """The demo accounts among (name, comment) whose demo process is gone: no process with
    that pid, or one started at another time (the pid was reused)."""
    stale = []
    for name, comment in accounts:
        owner = owner_of(name, comment)
        if owner is not None and start_of(owner[0]) != owner[1]:
            stale.append(name)
    return stale


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None when there is none."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name, field 2, is in parentheses and may hold spaces or parentheses
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def sweep_stale_accounts() -> list[str]:
    """Remove the accounts of demos that were killed before they could, after stopping the
    processes that run as them and the sshd that served them. Returns their names."""
    if process_start(os.getpid()) is None:  # no /proc: every demo would look gone
        return []
    stale = stale_accounts(((e.pw_name, e.pw_gecos) for e in pwd.getpwall()), process_start)
    for name in stale:
        entry = pwd.getpwnam(name)
        if entry.pw_uid == 0:
            continue
        for pid in _processes_of(entry.pw_uid, name):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        remove(name)
    return stale


def _processes_of(uid: int, name: str) -> list[int]:
    """Processes running as `uid`, and the sshd processes whose config allows only `name`."""
    found = []
    allow = f"AllowUsers {name}"
    for folder in _PROC.iterdir():
        if not folder.name.isdigit():
            continue
        try:
            if folder.stat().st_uid == uid:
                found.append(int(folder.name))
                continue
            config = sshd_config_of((folder / "cmdline").read_bytes())
        except OSError:
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if config and allow in Path(config).read_text().splitlines():
                found.append(int(folder.name))
    return found


def sshd_config_of(cmdline: bytes) -> str | None:
    """The `-f` config file of an sshd process, from its /proc cmdline: the argument list
    (NUL-separated), or the one title a running sshd gives itself
    (`sshd: /usr/sbin/sshd -D -f FILE ... [listener] ...`); None for any other process."""
    words = cmdline.replace(b"\0", b" ").split()
    if not words or os.path.basename(words[0].removesuffix(b":")) != b"sshd":
        return None
    if b"-f" not in words[:-1]:
        return None
    return os.fsdecode(words[words.index(b"-f") + 1])


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
