"""Which demo accounts a new demo run removes: those whose demo process is gone."""

from __future__ import annotations

import os

import pytest

from sshgate.demo.loginuser import (
    owner_mark,
    owner_of,
    process_start,
    sshd_config_of,
    stale_accounts,
)

LIVE = {100: 5000, 200: 7000}  # pid -> start of the processes that exist


@pytest.mark.parametrize(
    ("name", "comment", "owner"),
    [
        ("sshgate-demo-0a1b2c3d", "sshgate demo pid=100 start=5000", (100, 5000)),
        ("sshgate-demo-0a1b2c3d", "", None),  # no mark: not known to be a demo's
        ("sshgate-demo-0a1b2c3d", "sshgate demo pid=0 start=5000", None),
        ("sshgate-demo-0a1b2c3d", "sshgate demo pid=100 start=5000,,,", None),
        ("sshgate-demo-0a1b2c3d", "x sshgate demo pid=100 start=5000", None),
        ("alice", "sshgate demo pid=100 start=5000", None),  # not a demo account's name
        ("root", "sshgate demo pid=1 start=1", None),
    ],
)
def test_the_demo_that_made_an_account(
    name: str, comment: str, owner: tuple[int, int] | None
) -> None:
    assert owner_of(name, comment) == owner


@pytest.mark.parametrize(
    ("comment", "stale"),
    [
        (owner_mark(100, 5000), False),  # its demo runs
        (owner_mark(100, 4999), True),  # pid 100 is another process now
        (owner_mark(300, 5000), True),  # no such process
        ("", False),  # unmarked: left alone
    ],
)
def test_an_account_is_stale_when_its_demo_is_gone(comment: str, stale: bool) -> None:
    found = stale_accounts([("sshgate-demo-00000001", comment)], LIVE.get)
    assert found == (["sshgate-demo-00000001"] if stale else [])


def test_a_process_start_is_read_from_proc() -> None:
    mine = process_start(os.getpid())
    assert mine is not None and mine > 0
    assert process_start(os.getpid()) == mine
    assert process_start(2**22 + 12345) is None  # above pid_max: never a process


@pytest.mark.parametrize(
    ("cmdline", "config"),
    [
        (
            b"/usr/sbin/sshd\0-D\0-e\0-f\0/tmp/d/environment/sshd_config\0-E\0/tmp/d/log\0",
            "/tmp/d/environment/sshd_config",
        ),
        (
            b"sshd: /usr/sbin/sshd -D -e -f /tmp/d/environment/sshd_config -E /tmp/d/log"
            b" [listener] 0 of 1000-1000 startups\0",
            "/tmp/d/environment/sshd_config",
        ),
        (b"sshd: sshgate-demo-0a1b2c3d [priv]\0", None),  # a session's process
        (b"/usr/sbin/sshd\0-D\0-f\0", None),  # -f without its file
        (b"/bin/cat\0-f\0/tmp/d/environment/sshd_config\0", None),
        (b"", None),
    ],
)
def test_the_config_file_of_an_sshd_process(cmdline: bytes, config: str | None) -> None:
    assert sshd_config_of(cmdline) == config
