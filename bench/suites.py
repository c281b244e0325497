"""The side-by-side measurements with the stock clients: every round runs each path once,
in a rotated order, so that drift (page cache, CPU frequency, other load) spreads over all
paths instead of landing on one."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.clientconf import BULK_VARIANTS, LOGIN_SNIPPET, PATHS, SETUP_VARIANTS, git_url
from bench.gitops import clone, push
from bench.machine import usable_cores
from bench.openssh import Transfer, download, setup_time, upload
from bench.site import BenchSite
from bench.stats import Summary, rotated

PerPath = dict[str, Summary]
TransferFunction = Callable[[Path, str, int, int | None], Transfer]
Progress = Callable[[str], None]
T = TypeVar("T")


def _each_path(rounds: int, measure: Callable[[str], T]) -> dict[str, list[T]]:
    """`rounds` measurements of every path, each round in a rotated order."""
    values: dict[str, list[T]] = {path: [] for path in PATHS}
    for index in range(rounds):
        for path in rotated(PATHS, index):
            values[path].append(measure(path))
    return values


def _rounds(rounds: int, measure: Callable[[str], float]) -> PerPath:
    return {path: Summary.of(samples) for path, samples in _each_path(rounds, measure).items()}


def warm_up(site: BenchSite) -> None:
    """One untimed connection per path: caches, the gateway's first upstream certificate;
    and one through the login snippet, which also proves that a user's `ssh` gets in."""
    for path in PATHS:
        setup_time(site.ssh_configs["default"], path)
    setup_time(*site.setup_route(LOGIN_SNIPPET, "gateway"))


def connection_setup(site: BenchSite, rounds: int) -> dict[str, PerPath]:
    """Seconds for `ssh HOST true`, with OpenSSH's defaults, with the gateway's kex, and
    through the snippet `sshgate login` wrote (see `BenchSite.setup_route`)."""
    return {variant: _setup_with(site, variant, rounds) for variant in SETUP_VARIANTS}


def _setup_with(site: BenchSite, variant: str, rounds: int) -> PerPath:
    return _rounds(rounds, lambda path: setup_time(*site.setup_route(variant, path)))


@dataclass
class BulkResults:
    """MiB/s by client variant, direction and path; what the gateway's transfers cost it
    (see `_relay_cost`) and what each path's transfers cost the whole machine (see
    `_machine_cost`), both by "<direction> <variant>"."""

    mib_per_second: dict[str, dict[str, PerPath]] = field(default_factory=dict)
    gateway_cost: dict[str, dict[str, float]] = field(default_factory=dict)
    machine_cost: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def bulk(site: BenchSite, rounds: int, nbytes: int, progress: Progress) -> BulkResults:
    """MiB/s each way for each client variant, with the CPU it cost."""
    out = BulkResults()
    for variant in BULK_VARIANTS:
        progress(f"bulk: {nbytes >> 20} MiB each way, client variant {variant}")
        out.mib_per_second[variant] = {}
        for direction, transfer in (("upload", upload), ("download", download)):
            transfers = _transfers(site, site.ssh_configs[variant], transfer, rounds, nbytes)
            key = f"{direction} {variant}"
            out.mib_per_second[variant][direction] = {
                path: Summary.of([t.mib_per_second for t in done])
                for path, done in transfers.items()
            }
            out.gateway_cost[key] = _relay_cost(transfers["gateway"])
            out.machine_cost[key] = {path: _machine_cost(done) for path, done in transfers.items()}
    return out


PARALLEL_VARIANT = "aes128-gcm"  # what `sshgate login`'s snippet asks for


def parallel_downloads(site: BenchSite, rounds: int, nbytes: int, streams: int) -> PerPath:
    """Aggregate MiB/s of `streams` downloads at once on each path: all their bytes over the
    time from the first one's first byte to the last one's end. What several users'
    transfers get together, where `gateway.workers` > 1 can spread them over processes."""
    config = site.ssh_configs[PARALLEL_VARIANT]

    def measure(path: str) -> float:
        with ThreadPoolExecutor(streams) as pool:
            done = list(pool.map(lambda _: download(config, path, nbytes), range(streams)))
        span = max(t.ended for t in done) - min(t.began for t in done)
        return streams * nbytes / (1 << 20) / span

    return _rounds(rounds, measure)


def _transfers(
    site: BenchSite, config: Path, transfer: TransferFunction, rounds: int, nbytes: int
) -> dict[str, list[Transfer]]:
    def measure(path: str) -> Transfer:
        return transfer(config, path, nbytes, site.gateway.pid if path == "gateway" else None)

    return _each_path(rounds, measure)


def _machine_cost(transfers: list[Transfer]) -> dict[str, float]:
    """Whole-machine CPU per MiB on one path (client ssh, servers, the benchmark's own
    reading and writing, and anything else running), and the MiB/s at which that cost
    would fill every core of the machine: a CPU ceiling for the path on this machine."""
    ms_per_mib = statistics.median(t.machine_ms_per_mib for t in transfers)
    cores = statistics.median(t.machine_cpu for t in transfers)
    ceiling = 1000 * usable_cores() / ms_per_mib if ms_per_mib > 0 else float("nan")
    return {"machine_cores": cores, "machine_ms_per_mib": ms_per_mib, "cpu_ceiling": ceiling}


def _relay_cost(transfers: list[Transfer]) -> dict[str, float]:
    """The gateway's CPU share while relaying (cores), its CPU time per MiB relayed, and the
    MiB/s that one whole core would relay at that cost. Per MiB, the cost hardly depends on
    how much CPU other processes left to the gateway, so it compares runs on a busy machine
    better than MiB/s does."""
    cores = statistics.median(t.watched_cpu or 0.0 for t in transfers)
    ms_per_mib = statistics.median(
        1000 * (t.watched_cpu or 0.0) / t.mib_per_second for t in transfers
    )
    ceiling = 1000 / ms_per_mib if ms_per_mib > 0 else float("nan")
    return {"cores": cores, "cpu_ms_per_mib": ms_per_mib, "one_core_mib_per_second": ceiling}


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
