"""`python -m bench.profile [--workload bulk|connect] [--seconds 20] [--variant V]`:
sample the gateway with py-spy while bulk transfers (or new connections, 8 at a time) run
through it, and summarise where its CPU goes. Needs py-spy (`pip install py-spy`) and
ptrace rights (root, or CAP_SYS_PTRACE).

Writes <stamp>-profile.txt (the summary) and <stamp>-profile.collapsed (py-spy's raw
collapsed stacks; speedscope.app and flamegraph.pl open it) into the results folder."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.lifecycle import (
    ignore_further_signals,
    progress,
    raise_open_file_limit,
    run_async,
    stop_on_sigterm,
)
from bench.load import sustain
from bench.machine import sshgate_source
from bench.openssh import download, upload
from bench.processes import CpuMeter
from bench.repo import QUICK_SHAPE
from bench.run import DEFAULT_OUT
from bench.site import BenchSite
from bench.snapshot import run_at

TRANSFER_BYTES = 256 << 20
TOP = 25


def _frame_key(frame: str) -> tuple[str, str]:
    """`function (path/file.py:123)` -> (function, shortened path without the line)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3", "/sshgate/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return name, path


def _package(path: str) -> str:
    parts = path.split("/")
    if parts[0].startswith(".") or len(parts) == 1:
        return parts[-1]
    return "/".join(parts[:2]) if parts[0] in ("asyncssh", "sshgate") else parts[0]


def summarise(collapsed: Path) -> str:
    own: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_frame_key(f) for f in stack.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += count
        packages[_package(frames[-1][1])] += count
        for key in set(frames):
            total[key] += count
    if samples == 0:
        return "no samples (is py-spy allowed to trace the gateway?)\n"

    def table(title: str, counter: Counter[tuple[str, str]]) -> list[str]:
        rows = [f"{title} (% of {samples} samples on CPU)"]
        rows += [
            f"{100 * n / samples:6.1f}%  {name}  [{path}]"
            for (name, path), n in counter.most_common(TOP)
        ]
        return [*rows, ""]

    lines = ["Self time by package (the frame on top of the stack):"]
    lines += [f"{100 * n / samples:6.1f}%  {pkg}" for pkg, n in packages.most_common(15)]
    lines += ["", *table("Self time by function", own), *table("Inclusive time", total)]
    return "\n".join(lines)


def _connections(site: BenchSite, seconds: float) -> list[str]:
    """New connections through the gateway, 8 at a time, like the load section."""
    targets = site.async_targets()
    done = run_async(sustain(targets, "gateway", 8, seconds, site.gateway.pid))
    return [
        f"{done.per_second:.1f} connections/s, p50 {done.p50:.3f} s, p99 {done.p99:.3f} s, "
        f"gateway CPU {done.gateway_cpu:.2f} cores, {done.errors} errors"
    ]


def _transfers(site: BenchSite, variant: str, deadline: float) -> list[str]:
    """Transfers through the gateway, both ways in turn, until the deadline."""
    config = site.ssh_configs[variant]
    results = []
    pid = site.gateway.pid
    while time.monotonic() < deadline:
        for name, transfer in (("download", download), ("upload", upload)):
            done = transfer(config, "gateway", TRANSFER_BYTES, pid)
            results.append(
                f"{name} {done.mib_per_second:.1f} MiB/s, gateway CPU "
                f"{done.watched_cpu or 0:.2f} cores"
            )
    return results


def profile(seconds: int, variant: str, workload: str, out: Path) -> Path:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    collapsed = out / f"{stamp}-profile.collapsed"
    root = Path(tempfile.mkdtemp(prefix="sshgate-profile-"))
    site = BenchSite(root, QUICK_SHAPE)
    try:
        progress(f"starting the paths in {root}")
        site.start()
        progress(f"profiling the gateway (pid {site.gateway.pid}) for {seconds}s, {variant}")
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(site.gateway.pid),
                "--duration",
                str(seconds),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        meter = CpuMeter(site.gateway.pid)
        try:
            if workload == "connect":
                observed = _connections(site, seconds)
            else:
                observed = _transfers(site, variant, time.monotonic() + seconds)
            share = meter.share()
            _, err = spy.communicate(timeout=seconds + 60)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
    finally:
        ignore_further_signals()
        site.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary_path = out / f"{stamp}-profile.txt"
    header = [
        f"gateway under {workload} load ({variant} client), {seconds}s sampled",
        f"sshgate measured: {sshgate_source()}",
        f"gateway CPU over the run: {share:.2f} cores",
        *observed,
        "",
    ]
    summary_path.write_text("\n".join(header) + summarise(collapsed))
    return summary_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--variant", choices=("default", "aes128-gcm"), default="default")
    parser.add_argument("--workload", choices=("bulk", "connect"), default="bulk")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--ref", help="profile this commit's sshgate (git archive)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    if args.ref:
        again = ["--seconds", str(args.seconds), "--variant", args.variant]
        again += ["--workload", args.workload]
        return run_at(args.ref, [*again, "--out", str(args.out.resolve())], "bench.profile")
    raise_open_file_limit()
    try:
        summary = profile(args.seconds, args.variant, args.workload, args.out)
    except KeyboardInterrupt:
        return 130
    print(summary.read_text())
    progress(f"wrote {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
