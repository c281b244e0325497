"""What the numbers were measured on: cores, CPU, kernel and the versions of every program
on the paths."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def _version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not found"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sshgate_source() -> str:
    """Where the measured sshgate comes from: its folder, commit, and whether it has local
    changes (others edit the gateway while it is measured)."""
    import sshgate

    folder = Path(sshgate.__file__).resolve().parent
    if os.environ.get("SSHGATE_BENCH_SOURCE"):
        return f"{folder}: {os.environ['SSHGATE_BENCH_SOURCE']}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except OSError:
        return str(folder)
    if not commit:
        return f"{folder} (not a git checkout)"
    return f"{folder} at {commit}" + (" with local changes" if dirty else "")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def describe() -> dict[str, object]:
    import sshgate

    return {
        "sshgate_source": sshgate_source(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sshgate": getattr(sshgate, "__version__", "unknown"),
        "asyncssh": _version_of("asyncssh"),
        "cryptography": _version_of("cryptography"),
        "uvloop": _version_of("uvloop"),
        "openssh": _command_version(["ssh", "-V"]),
        "git": _command_version(["git", "--version"]),
    }
