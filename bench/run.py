"""`python -m bench.run [--quick] [--out DIR]`: start the three paths on loopback, measure
them side by side, write bench/results/<timestamp>.json and .md, and print the table.

Every process started here is stopped at the end, also on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import console, markdown, suites
from bench.asyncclient import AsyncTargets
from bench.clientconf import PATHS
from bench.crowd import hold_crowd
from bench.issuance import api_issue_rate, issue_rate
from bench.lifecycle import (
    ignore_further_signals,
    progress,
    raise_open_file_limit,
    run_async,
    stop_on_sigterm,
)
from bench.load import sustain
from bench.machine import describe
from bench.openssh import MeasurementError, ssh_argv
from bench.plan import FULL, QUICK, SECTIONS, Plan
from bench.processes import BenchSetupError, MachineMeter
from bench.results import Results
from bench.site import USER, BenchSite
from bench.snapshot import run_at

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def check_enforcement(site: BenchSite) -> str:
    """The measured gateway does enforce MFA: a certificate without `mfa` is refused."""
    who = site.issue_without_mfa()
    config = site.root / "client" / "ssh_config.no-mfa"
    text = site.ssh_configs["default"].read_text()
    config.write_text(
        text.replace(str(site.user.cert), str(who.cert)).replace(str(site.user.key), str(who.key))
    )
    result = subprocess.run(
        ssh_argv(config, "gateway", "true"), capture_output=True, text=True, timeout=60
    )
    if result.returncode == 1 and "Multifactor authentication (MFA)" in result.stderr:
        return "MFA enforcement checked: a certificate without mfa gets the documented refusal"
    raise RuntimeError(f"a certificate without mfa was not refused: {result.returncode}")


def _measure(site: BenchSite, plan: Plan, sections: tuple[str, ...], r: Results) -> None:
    targets = site.async_targets()
    steps: dict[str, Callable[[], None]] = {
        "setup": lambda: r.setup.update(suites.connection_setup(site, plan.setup_rounds)),
        "bulk": lambda: _bulk(site, plan, r),
        "parallel": lambda: _parallel(site, plan, r),
        "git": lambda: r.git.update(suites.git(site, plan.git_rounds)),
        "crowd": lambda: _crowd(site, targets, plan, r),
        "load": lambda: _load(site, targets, plan, r),
        "issuance": lambda: _issuance(site, plan, r),
        "console": lambda: _console(site, plan, r),
    }
    for name in sections:
        progress(f"measuring: {name}")
        machine = MachineMeter()
        try:
            steps[name]()
            r.machine_busy[name] = machine.busy_cores()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one broken section must not lose the others
            r.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            progress(f"{name} failed: {exc}")


def _bulk(site: BenchSite, plan: Plan, r: Results) -> None:
    measured = suites.bulk(site, plan.bulk_rounds, plan.bulk_bytes, progress)
    r.bulk, r.bulk_gateway_cpu = measured.mib_per_second, measured.gateway_cost
    r.bulk_machine_cost = measured.machine_cost


def _parallel(site: BenchSite, plan: Plan, r: Results) -> None:
    progress(f"parallel: {plan.parallel_streams} downloads at once on each path")
    r.parallel = suites.parallel_downloads(
        site, plan.bulk_rounds, plan.bulk_bytes, plan.parallel_streams
    )


def _crowd(site: BenchSite, targets: AsyncTargets, plan: Plan, r: Results) -> None:
    site.gateway.restart()
    baseline, steps = run_async(
        hold_crowd(
            targets,
            list(plan.crowd_steps),
            site.gateway.pid,
            site.ssh_configs["default"],
            plan.crowd_samples,
        )
    )
    r.crowd_baseline_kib, r.crowd = baseline, steps


def _load(site: BenchSite, targets: AsyncTargets, plan: Plan, r: Results) -> None:
    for path in PATHS:
        progress(f"load: {path}")
        r.load[path] = run_async(
            sustain(targets, path, plan.load_concurrency, plan.load_seconds, site.gateway.pid)
        )


def _issuance(site: BenchSite, plan: Plan, r: Results) -> None:
    progress(f"issuance: HTTP API, {plan.issuance_concurrency} concurrent clients")
    r.issuance["http_api"] = run_async(
        api_issue_rate(
            site.api_url,
            site.account.state().token,
            site.user.public_key,
            plan.issuance_concurrency,
            plan.issuance_seconds,
            site.gateway.pid,
        )
    )
    progress("issuance: in process")
    r.issuance["in_process"] = run_async(
        issue_rate(site.config, USER, site.user.public_key, plan.issuance_seconds)
    )


def _console(site: BenchSite, plan: Plan, r: Results) -> None:
    progress(f"console: {plan.console_members} members, {plan.console_rounds} requests a page")
    run_async(console.populate(site.config, plan.console_members))
    r.console = console.measure(site.api_url, plan.console_rounds)


def write(r: Results, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = r.started.replace(":", "").replace("-", "")
    json_path, md_path = out / f"{stamp}.json", out / f"{stamp}.md"
    json_path.write_text(json.dumps(r.to_json(), indent=2, allow_nan=True) + "\n")
    md_path.write_text(markdown.render(r))
    return json_path, md_path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about 2 minutes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway.workers for sshgate serve (default 1)"
    )
    parser.add_argument(
        "--ref", help="measure this commit's sshgate (git archive) instead of the working tree"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ref:
        stop_on_sigterm()
        again = ["--out", str(args.out.resolve()), "--only", args.only]
        again += ["--quick"] * args.quick + ["--keep"] * args.keep
        again += ["--workers", str(args.workers)]
        return run_at(args.ref, again)
    plan = QUICK if args.quick else FULL
    sections = tuple(s for s in SECTIONS if s in args.only.split(","))
    stop_on_sigterm()
    nofile = raise_open_file_limit()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = {**describe(), "loadavg_at_start": os.getloadavg()}
    measured_plan = {**plan.to_json(), "nofile": nofile, "gateway_workers": args.workers}
    r = Results(started, args.quick, machine, measured_plan)
    root = Path(tempfile.mkdtemp(prefix="sshgate-bench-"))
    site = BenchSite(root, plan.repo_shape, args.workers)
    try:
        progress(f"starting sshd environment, bastion and sshgate in {root}")
        site.start()
        r.repo = site.repo_facts
        r.notes += site.notes
        suites.warm_up(site)
        r.notes.append(check_enforcement(site))
        _measure(site, plan, sections, r)
    except KeyboardInterrupt:
        progress("interrupted: stopping every process")
        return 130
    except (
        BenchSetupError,
        MeasurementError,
        subprocess.SubprocessError,
        OSError,
        RuntimeError,
    ) as exc:
        progress(f"setup failed: {exc}")
        return 1
    finally:
        ignore_further_signals()
        site.stop()
        if args.keep:
            progress(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    r.notes += [*NOTES, upstream_note()]
    json_path, md_path = write(r, args.out)
    print(markdown.render(r))
    progress(f"wrote {json_path} and {md_path}")
    return 1 if r.failures else 0


NOTES = [
    "Setup: wall time of one `ssh -F <config> HOST true` process. Bulk: timed from the "
    "remote command's start (upload) or first byte (download) to exit, so connection setup "
    "is excluded.",
    "Client variants are offered by the client on every hop it makes (bastion: both hops, "
    "through the ssh_config): `default` is OpenSSH 9.2's own (sntrup761x25519 kex, "
    "chacha20-poly1305), `aes128-gcm` sets Ciphers, `curve25519` sets KexAlgorithms to what "
    "the gateway negotiates.",
    "git clone is `--no-checkout` (fetch and index-pack); push sends all of main to an "
    "emptied bare repository.",
    "Bastion and direct log in with a plain key (AuthorizedKeysFile); the gateway with the "
    "user's sshgate certificate, and then with its own upstream certificate.",
    "Both sshd's run with MaxStartups 1000:30:1000 and MaxSessions 1000, and SetEnv SHLVL=1 "
    "so that bash does not source the login user's ~/.bashrc for their sessions.",
]


def upstream_note() -> str:
    """What the gateway offers on its own hop to the environment, read from the sshgate
    measured (with --ref, an older one may not set UPSTREAM_CIPHERS)."""
    from sshgate.ssh_gateway import upstream

    ciphers: tuple[str, ...] = getattr(upstream, "UPSTREAM_CIPHERS", ())
    offer = (
        f"offers the ciphers {', '.join(ciphers)} in that order (UPSTREAM_CIPHERS), and the "
        f"environment's sshd takes the first it supports: {ciphers[0]}"
        if ciphers
        else "offers asyncssh's default ciphers (chacha20-poly1305@openssh.com first)"
    )
    return (
        "The gateway's own hop to the environment: the gateway is the SSH client there, so "
        f"its order decides and the user's client cannot choose. It {offer}. Key exchange "
        "is asyncssh's default order (ML-KEM hybrids first, which OpenSSH 9.2's sshd lacks, "
        "then curve25519-sha256, which it takes)."
    )


if __name__ == "__main__":
    sys.exit(main())
