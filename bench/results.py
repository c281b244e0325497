"""Everything one run measured, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.console import PageTimes
from bench.crowd import CrowdStep
from bench.issuance import IssuanceResult
from bench.load import LoadResult
from bench.repo import RepoFacts
from bench.stats import Summary, ratio

PerPath = dict[str, Summary]


@dataclass
class Results:
    started: str
    quick: bool
    machine: dict[str, object]
    plan: dict[str, object]
    setup: dict[str, PerPath] = field(default_factory=dict)
    bulk: dict[str, dict[str, PerPath]] = field(default_factory=dict)
    bulk_gateway_cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    # by "<direction> <variant>", then path: whole-machine CPU per MiB and its ceiling
    bulk_machine_cost: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    machine_busy: dict[str, float] = field(default_factory=dict)  # cores, by section
    parallel: PerPath = field(default_factory=dict)  # aggregate MiB/s, by path
    git: dict[str, PerPath] = field(default_factory=dict)
    repo: RepoFacts | None = None
    crowd_baseline_kib: int | None = None
    crowd: list[CrowdStep] = field(default_factory=list)
    load: dict[str, LoadResult] = field(default_factory=dict)
    issuance: dict[str, IssuanceResult] = field(default_factory=dict)  # by method key
    console: list[PageTimes] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, dict[str, float]]:
        """gateway/direct and gateway/bastion of every per-path median, by metric name."""
        metrics: dict[str, PerPath] = {}
        for variant, per_path in self.setup.items():
            metrics[f"setup_seconds_{variant}"] = per_path
        for choice, directions in self.bulk.items():
            for direction, per_path in directions.items():
                metrics[f"{direction}_mib_s_{choice}"] = per_path
        if self.parallel:
            metrics["parallel_download_mib_s"] = self.parallel
        for operation, per_path in self.git.items():
            metrics[f"git_{operation}_seconds"] = per_path
        out = {
            name: {
                "gateway/direct": ratio(pp["gateway"].median, pp["direct"].median),
                "gateway/bastion": ratio(pp["gateway"].median, pp["bastion"].median),
            }
            for name, pp in metrics.items()
        }
        if {"gateway", "direct", "bastion"} <= self.load.keys():
            for key in ("per_second", "p50", "p99"):
                gw = getattr(self.load["gateway"], key)
                out[f"load_{key}"] = {
                    "gateway/direct": ratio(gw, getattr(self.load["direct"], key)),
                    "gateway/bastion": ratio(gw, getattr(self.load["bastion"], key)),
                }
        return out

    def to_json(self) -> dict[str, Any]:
        def per_path(pp: PerPath) -> dict[str, Any]:
            return {path: summary.to_json() for path, summary in pp.items()}

        return {
            "started": self.started,
            "quick": self.quick,
            "machine": self.machine,
            "plan": self.plan,
            "ratios": self.ratios(),
            "setup_seconds": {v: per_path(pp) for v, pp in self.setup.items()},
            "bulk_mib_per_second": {
                choice: {d: per_path(pp) for d, pp in directions.items()}
                for choice, directions in self.bulk.items()
            },
            "bulk_gateway_cost": self.bulk_gateway_cpu,
            "bulk_machine_cost": self.bulk_machine_cost,
            "machine_busy_cores_by_section": self.machine_busy,
            "parallel_download_mib_per_second": per_path(self.parallel),
            "git_seconds": {op: per_path(pp) for op, pp in self.git.items()},
            "git_repository": self.repo.to_json() if self.repo else None,
            "crowd": {
                "gateway_rss_baseline_kib": self.crowd_baseline_kib,
                "steps": [step.to_json() for step in self.crowd],
            },
            "load": {path: result.to_json() for path, result in self.load.items()},
            "issuance": {key: result.to_json() for key, result in self.issuance.items()},
            "console_pages": {p.path: p.to_json() for p in self.console},
            "notes": self.notes,
            "failures": self.failures,
        }
