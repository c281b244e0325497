"""How much each section measures, for the quick and the full run."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.repo import FULL_SHAPE, QUICK_SHAPE, RepoShape

SECTIONS = ("setup", "bulk", "parallel", "git", "crowd", "load", "issuance", "console")


@dataclass(frozen=True)
class Plan:
    setup_rounds: int
    bulk_rounds: int
    bulk_bytes: int
    git_rounds: int
    repo_shape: RepoShape
    crowd_steps: tuple[int, ...]
    crowd_samples: int
    load_concurrency: int
    load_seconds: float
    issuance_seconds: float
    issuance_concurrency: int
    parallel_streams: int = 2  # downloads at once in the `parallel` section
    console_members: int = 1000  # members of the org whose Console pages are measured
    console_rounds: int = 200  # requests per Console page

    def to_json(self) -> dict[str, object]:
        return asdict(self)


QUICK = Plan(
    setup_rounds=7,
    bulk_rounds=3,
    bulk_bytes=32 << 20,
    git_rounds=3,
    repo_shape=QUICK_SHAPE,
    crowd_steps=(100,),
    crowd_samples=3,
    load_concurrency=8,
    load_seconds=4.0,
    issuance_seconds=2.0,
    issuance_concurrency=8,
    console_rounds=50,
)

FULL = Plan(
    setup_rounds=15,
    bulk_rounds=5,
    bulk_bytes=256 << 20,
    git_rounds=5,
    repo_shape=FULL_SHAPE,
    crowd_steps=(100, 500, 1000),
    crowd_samples=5,
    load_concurrency=8,
    load_seconds=10.0,
    issuance_seconds=5.0,
    issuance_concurrency=8,
)
