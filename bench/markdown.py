"""The Markdown report of one run: ratios first, absolute numbers beside them."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench import console
from bench.clientconf import LOGIN_SNIPPET
from bench.issuance import IssuanceResult
from bench.results import PerPath, Results
from bench.stats import Summary, ratio

Check = Callable[[float, float], bool]  # (gateway/direct, gateway/bastion) -> target met
SETUP_TARGET: tuple[str, Check] = (
    "≤ 1.0× direct, < bastion",
    lambda gd, gb: gd <= 1.0 and gb < 1.0,
)
# The snippet's gateway path also runs `sshgate cert ensure`, which the others do not need.
SNIPPET_TARGET: tuple[str, Check] = ("≤ 1.15× direct", lambda gd, gb: gd <= 1.15)


def _num(value: float, digits: int) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _cell(summary: Summary, digits: int) -> str:
    return (
        f"{_num(summary.median, digits)} ({_num(summary.min, digits)}–{_num(summary.max, digits)})"
    )


def _met(flag: bool | None) -> str:
    return "–" if flag is None else ("yes" if flag else "**no**")


def _row(label: str, pp: PerPath, digits: int, target: str, check: Check | None) -> str:
    gd = ratio(pp["gateway"].median, pp["direct"].median)
    gb = ratio(pp["gateway"].median, pp["bastion"].median)
    met = None if check is None or math.isnan(gd) else check(gd, gb)
    cells = [label, *(_cell(pp[p], digits) for p in ("direct", "bastion", "gateway"))]
    cells += [f"{_num(gd, 2)}×", f"{_num(gb, 2)}×", target, _met(met)]
    return "| " + " | ".join(cells) + " |"


def _paths_table(r: Results) -> list[str]:
    lines = [
        "| metric: median (min–max) | direct | bastion | gateway | gateway/direct "
        "| gateway/bastion | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant, pp in r.setup.items():
        lines.append(_setup_row(variant, pp))
    for choice, directions in r.bulk.items():
        for direction, pp in directions.items():
            lines.append(
                _row(
                    f"{direction} MiB/s, client {choice}",
                    pp,
                    1,
                    "≥ 0.9× direct, ≥ bastion",
                    lambda gd, gb: gd >= 0.9 and gb >= 1.0,
                )
            )
    if r.parallel:
        streams = r.plan.get("parallel_streams")
        lines.append(
            _row(
                f"download MiB/s, {streams} at once (sum), client aes128-gcm",
                r.parallel,
                1,
                "– (gateway.workers)",
                None,
            )
        )
    for operation, pp in r.git.items():
        lines.append(_row(f"git {operation}, s", pp, 2, "≤ 1.1× direct", lambda gd, gb: gd <= 1.1))
    return lines


def _setup_row(variant: str, pp: PerPath) -> str:
    if variant == LOGIN_SNIPPET:
        label = (
            "`ssh HOST true` setup, s, gateway through the `sshgate login` snippet with its "
            "`cert ensure` hook (direct, bastion: client default)"
        )
        return _row(label, pp, 3, *SNIPPET_TARGET)
    return _row(f"`ssh HOST true` setup, s, client {variant}", pp, 3, *SETUP_TARGET)


def _cpu_lines(r: Results) -> list[str]:
    lines = []
    if r.bulk_gateway_cpu:
        lines += [
            "",
            "What relaying costs the gateway process (medians over its transfers):",
            "",
            "| transfer, client variant | gateway CPU, cores | CPU ms per MiB | MiB/s at one "
            "full core |",
            "| --- | --- | --- | --- |",
        ]
        for key, cost in r.bulk_gateway_cpu.items():
            lines.append(
                f"| {key} | {_num(cost['cores'], 2)} | {_num(cost['cpu_ms_per_mib'], 2)} | "
                f"{_num(cost['one_core_mib_per_second'], 0)} |"
            )
    lines += _machine_cost_lines(r)
    if r.machine_busy:
        busy = ", ".join(f"{k} {v:.2f}" for k, v in r.machine_busy.items())
        load = ", ".join(f"{v:.2f}" for v in r.machine.get("loadavg_at_start") or ())  # type: ignore[attr-defined]
        lines += [
            "",
            f"Whole machine CPU busy while measuring, cores of {r.machine['cores']}: {busy} "
            f"(load average at start {load}; other work on a shared machine counts here).",
        ]
    return lines


def _machine_cost_lines(r: Results) -> list[str]:
    """Whole-machine CPU per MiB by path: every path's processes share the same cores, so
    a path cannot go faster than the machine's cores divided by that cost."""
    if not r.bulk_machine_cost:
        return []
    cores = r.machine["usable_cores"]
    lines = [
        "",
        f"What each path costs the whole machine: CPU ms per MiB moved, all processes (client "
        f"ssh, servers, the benchmark's reader or writer, other work), and the MiB/s at which "
        f"that cost would keep all {cores} cores busy:",
        "",
        "| transfer, client variant | direct | bastion | gateway | gateway/direct |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, by_path in r.bulk_machine_cost.items():
        cells = [
            f"{_num(by_path[p]['machine_ms_per_mib'], 2)} ms ({_num(by_path[p]['cpu_ceiling'], 0)})"
            for p in ("direct", "bastion", "gateway")
        ]
        cost = ratio(
            by_path["gateway"]["machine_ms_per_mib"], by_path["direct"]["machine_ms_per_mib"]
        )
        lines.append(f"| {key} | {' | '.join(cells)} | {_num(cost, 2)}× |")
    return lines


def _load_table(r: Results) -> list[str]:
    if not r.load:
        return []
    first = next(iter(r.load.values()))
    lines = [
        "",
        f"New connections under load: {first.concurrency} concurrent asyncssh clients, each "
        f"looping connect + `true` + close for {first.seconds:.0f} s.",
        "",
        "| path | connections/s | setup p50, s | setup p99, s | errors | gateway CPU, cores "
        "| gateway CPU ms per connection | load generator CPU, cores |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path, res in r.load.items():
        lines.append(
            f"| {path} | {_num(res.per_second, 1)} | {_num(res.p50, 3)} | {_num(res.p99, 3)} "
            f"| {res.errors} | {_num(res.gateway_cpu, 2)} | "
            f"{_num(res.gateway_cpu_ms_per_connection, 1) if path == 'gateway' else '–'} | "
            f"{_num(res.client_cpu, 2)} |"
        )
    ratios = r.ratios()
    if "load_per_second" in ratios:
        rate, p99 = ratios["load_per_second"], ratios["load_p99"]
        lines.append(
            f"| gateway/direct | {_num(rate['gateway/direct'], 2)}× | "
            f"{_num(ratios['load_p50']['gateway/direct'], 2)}× | "
            f"{_num(p99['gateway/direct'], 2)}× | | | | |"
        )
    return lines


def _crowd_table(r: Results) -> list[str]:
    if not r.crowd:
        return []
    lines = [
        "",
        f"Sessions held open through the gateway (one asyncssh process, `cat` upstream); "
        f"gateway RSS before the first: {r.crowd_baseline_kib} KiB.",
        "",
        "| sessions held | gateway RSS, MiB | KiB per session (< 100) | new `ssh true`, s: "
        "direct | bastion | gateway (max < 0.5) | gateway/direct | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for step in r.crowd:
        nc = step.new_connection
        gd = ratio(nc["gateway"].median, nc["direct"].median)
        met = step.per_session_kib < 100 and nc["gateway"].max < 0.5 and step.failed == 0
        held = f"{step.held}" + (f" ({step.failed} failed)" if step.failed else "")
        lines.append(
            f"| {held} | {_num(step.rss_kib / 1024, 1)} | {_num(step.per_session_kib, 1)} | "
            f"{_cell(nc['direct'], 3)} | {_cell(nc['bastion'], 3)} | {_cell(nc['gateway'], 3)} "
            f"| {_num(gd, 2)}× | {_met(met)} |"
        )
    return lines


ISSUANCE_LABELS = {"http_api": "HTTP API", "in_process": "in process"}


def _issuance_row(key: str, i: IssuanceResult) -> str:
    server = "–" if i.server_cpu is None else _num(i.server_cpu, 2)
    cells = [
        ISSUANCE_LABELS.get(key, key),
        str(i.concurrency),
        f"**{_num(i.per_second, 0)}**",
        _num(i.p50 * 1000, 2),
        _num(i.p99 * 1000, 2),
        str(i.issued),
        str(i.errors),
        server,
        _num(i.client_cpu, 2),
    ]
    return "| " + " | ".join(cells) + " |"


def _issuance(r: Results) -> list[str]:
    if not r.issuance:
        return []
    seconds = max(i.seconds for i in r.issuance.values())
    lines = [
        "",
        f"Certificate issuance, {seconds:.0f} s per method:",
        "",
        "| method | concurrent | certificates/s | p50, ms | p99, ms | issued | errors "
        "| `sshgate serve` CPU, cores | benchmark process CPU, cores |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_issuance_row(key, i) for key, i in r.issuance.items()),
        "",
    ]
    for i in r.issuance.values():
        first = f" First error: {i.first_error}" if i.first_error else ""
        lines.append(f"- {i.method}.{first}")
    return lines


def render(r: Results) -> str:
    m = r.machine
    repo = (
        f"; git repository {r.repo.objects} objects, pack {r.repo.pack_kib / 1024:.1f} MiB"
        if r.repo
        else ""
    )
    lines = [
        f"# sshgate benchmark, {r.started} ({'quick' if r.quick else 'full'} run)",
        "",
        f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}, Linux "
        f"{m['kernel']}; Python {m['python']}, sshgate {m['sshgate']}, asyncssh "
        f"{m['asyncssh']}, cryptography {m['cryptography']}, uvloop {m['uvloop']}, "
        f"{m['openssh']}, {m['git']}{repo}.",
        "",
        f"sshgate measured: {m['sshgate_source']}.",
        "",
        "Ratios are the result; seconds and MiB/s depend on the machine. For times lower is "
        "better, for MiB/s and connections/s higher is better.",
        "",
        *_paths_table(r),
        *_cpu_lines(r),
        *_load_table(r),
        *_crowd_table(r),
        *_issuance(r),
        *console.markdown(int(str(r.plan.get("console_members", 0))), r.console),
    ]
    if r.notes or r.failures:
        lines += ["", "Notes:", *(f"- {note}" for note in r.notes)]
        lines += [f"- FAILED: {failure}" for failure in r.failures]
    return "\n".join(lines) + "\n"
