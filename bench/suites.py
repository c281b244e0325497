"""The side-by-side measurements with the stock clients: every round runs each path once,
in a rotated order, so that drift (page cache, CPU frequency, other load) spreads over all
paths instead of landing on one."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.clientconf import BULK_VARIANTS, PATHS, SETUP_VARIANTS, git_url
from bench.gitops import clone, push
from bench.openssh import download, setup_time, upload
from bench.processes import CpuMeter
from bench.site import BenchSite
from bench.stats import Summary, rotated

PerPath = dict[str, Summary]
Transfer = Callable[[Path, str, int], float]
Progress = Callable[[str], None]


def _rounds(rounds: int, measure: Callable[[str], float]) -> PerPath:
    values: dict[str, list[float]] = {path: [] for path in PATHS}
    for index in range(rounds):
        for path in rotated(PATHS, index):
            values[path].append(measure(path))
    return {path: Summary.of(samples) for path, samples in values.items()}


def warm_up(site: BenchSite) -> None:
    """One untimed connection per path: caches, the gateway's first upstream certificate."""
    for path in PATHS:
        setup_time(site.ssh_configs["default"], path)


def connection_setup(site: BenchSite, rounds: int) -> dict[str, PerPath]:
    """Seconds for `ssh HOST true`, with OpenSSH's defaults and with the gateway's kex."""
    return {variant: _setup_with(site.ssh_configs[variant], rounds) for variant in SETUP_VARIANTS}


def _setup_with(config: Path, rounds: int) -> PerPath:
    return _rounds(rounds, lambda path: setup_time(config, path))


def bulk(
    site: BenchSite, rounds: int, nbytes: int, progress: Progress
) -> tuple[dict[str, dict[str, PerPath]], dict[str, float]]:
    """MiB/s each way for each client variant, and the median CPU share (cores) of the
    gateway process during its own transfers, by "<direction> <variant>"."""
    results: dict[str, dict[str, PerPath]] = {}
    gateway_cpu: dict[str, float] = {}
    for variant in BULK_VARIANTS:
        progress(f"bulk: {nbytes >> 20} MiB each way, client variant {variant}")
        results[variant] = {}
        for direction, transfer in (("upload", upload), ("download", download)):
            per_path, share = _bulk_rounds(
                site, site.ssh_configs[variant], transfer, rounds, nbytes
            )
            results[variant][direction] = per_path
            gateway_cpu[f"{direction} {variant}"] = share
    return results, gateway_cpu


def _bulk_rounds(
    site: BenchSite, config: Path, transfer: Transfer, rounds: int, nbytes: int
) -> tuple[PerPath, float]:
    shares: list[float] = []

    def measure(path: str) -> float:
        meter = CpuMeter(site.gateway.pid) if path == "gateway" else None
        rate = transfer(config, path, nbytes)
        if meter is not None:
            shares.append(meter.share())
        return rate

    return _rounds(rounds, measure), statistics.median(shares)


def git(site: BenchSite, rounds: int) -> dict[str, PerPath]:
    """Seconds for `git clone` and `git push` of the generated repository (default ciphers)."""
    config = site.ssh_configs["default"]
    with tempfile.TemporaryDirectory(dir=site.root) as work:
        workdir = Path(work)

        def clone_via(path: str) -> float:
            return clone(git_url(path, site.source_repo, site.clone_project), workdir, config)

        def push_via(path: str) -> float:
            url = git_url(path, site.push_repo, site.push_project)
            return push(site.source_repo, url, site.push_repo, config)

        return {"clone": _rounds(rounds, clone_via), "push": _rounds(rounds, push_via)}
