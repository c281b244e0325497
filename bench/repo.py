"""A generated git repository for the clone and push measurements: many small objects of
text-like, barely compressible content, written in one `git fast-import` run."""

from __future__ import annotations

import base64
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

DIRECTORIES = 50
EPOCH = 1_700_000_000


@dataclass(frozen=True)
class RepoShape:
    commits: int
    files_per_commit: int
    file_bytes: int  # random bytes per file before base64 (which adds a third)


# base64 text deflates to about 3/4, so these pack to about 5 MB and 50 MB.
QUICK_SHAPE = RepoShape(commits=10, files_per_commit=100, file_bytes=5_000)
FULL_SHAPE = RepoShape(commits=40, files_per_commit=250, file_bytes=5_000)


@dataclass(frozen=True)
class RepoFacts:
    objects: int
    pack_kib: int

    def to_json(self) -> dict[str, int]:
        return {"objects": self.objects, "pack_kib": self.pack_kib}


def init_bare(path: Path) -> None:
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def _stream(shape: RepoShape, seed: int) -> bytes:
    rng = random.Random(seed)
    parts: list[bytes] = []
    mark = 0
    previous_commit = 0
    for commit in range(shape.commits):
        blobs = []
        for index in range(shape.files_per_commit):
            mark += 1
            content = base64.encodebytes(rng.randbytes(shape.file_bytes))
            parts.append(b"blob\nmark :%d\n" % mark + _data(content))
            path = f"src/d{index % DIRECTORIES:02d}/c{commit:03d}_f{index:04d}.txt"
            blobs.append((mark, path))
        mark += 1
        parts.append(
            b"commit refs/heads/main\nmark :%d\ncommitter bench <bench@example.com> %d +0000\n"
            % (mark, EPOCH + commit)
        )
        parts.append(_data(b"commit %d" % commit))
        if previous_commit:
            parts.append(b"from :%d\n" % previous_commit)
        parts.extend(b"M 100644 :%d %s\n" % (blob, path.encode()) for blob, path in blobs)
        parts.append(b"\n")
        previous_commit = mark
    return b"".join(parts)


def generate(path: Path, shape: RepoShape, seed: int = 6) -> RepoFacts:
    """Create the bare repository `path` holding `shape.commits` commits on main."""
    init_bare(path)
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"],
        input=_stream(shape, seed),
        check=True,
        timeout=600,
    )
    return facts(path)


def facts(path: Path) -> RepoFacts:
    out = subprocess.run(
        ["git", "-C", str(path), "count-objects", "-v"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    values = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return RepoFacts(
        objects=int(values.get("in-pack", "0")) + int(values.get("count", "0")),
        pack_kib=int(values.get("size-pack", "0")) + int(values.get("size", "0")),
    )
