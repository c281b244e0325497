"""`--ref REF`: measure a committed sshgate rather than the working tree, which others may
be editing mid-change. `git archive REF sshgate` goes into a temporary folder beside a copy
of this bench/, and the benchmark runs again from there (the current folder comes first on
sys.path, before the editable install)."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SOURCE_ENV = "SSHGATE_BENCH_SOURCE"
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def export(ref: str, dest: Path) -> str:
    """Unpack `ref`'s sshgate/ and this bench/ into `dest`; return the commit's short id."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "sshgate"],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    shutil.copytree(BENCH, dest / "bench", ignore=shutil.ignore_patterns("results", "__pycache__"))
    return commit


def run_at(ref: str, bench_args: list[str], module: str = "bench.run") -> int:
    """Run `python -m MODULE BENCH_ARGS` against `ref`; stop it on Ctrl-C or SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="sshgate-bench-src-") as folder:
        dest = Path(folder)
        commit = export(ref, dest)
        env = {**os.environ, SOURCE_ENV: f"git archive of {ref} ({commit})"}
        child = subprocess.Popen([sys.executable, "-m", module, *bench_args], cwd=dest, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
            try:
                return child.wait(timeout=120)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()
