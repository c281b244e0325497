"""`git clone` and `git push` over ssh with the benchmark's ssh_config (GIT_SSH_COMMAND)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.openssh import MeasurementError
from bench.repo import init_bare


def git_env(ssh_config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GIT_SSH_COMMAND": f"ssh -F {ssh_config}",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def _timed_git(args: list[str], env: dict[str, str], what: str, timeout: float) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        ["git", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise MeasurementError(f"{what} exited {result.returncode}: {result.stderr[-500:]}")
    return elapsed


def clone(url: str, workdir: Path, ssh_config: Path, timeout: float = 600.0) -> float:
    """Seconds for `git clone --no-checkout URL`: fetch and index-pack, the part that crosses
    the network. The checkout is the same local work on every path and is left out."""
    destination = workdir / "clone"
    shutil.rmtree(destination, ignore_errors=True)
    try:
        return _timed_git(
            ["clone", "--quiet", "--no-checkout", url, str(destination)],
            git_env(ssh_config),
            f"git clone {url}",
            timeout,
        )
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def push(
    source: Path, url: str, target_repo: Path, ssh_config: Path, timeout: float = 600.0
) -> float:
    """Seconds for pushing all of `source`'s main into `target_repo`, emptied first (not
    timed), through `url`."""
    shutil.rmtree(target_repo, ignore_errors=True)
    init_bare(target_repo)
    return _timed_git(
        ["-C", str(source), "push", "--quiet", url, "main:main"],
        git_env(ssh_config),
        f"git push {url}",
        timeout,
    )
