"""Benchmark: what the gateway adds to a call, and what each call costs the suite.

Starts a static upstream (nginx when installed, else `tollgate mock-upstream`) and
`tollgate up` in a fresh temporary home, on free ports, makes two projects and a key of
each with the CLI, then sends one fixed small chat request to the upstream alone
(`direct`) and through the gateway: `plain` (no budget or rate limit), `budgeted` (a hard
budget, so every call reserves and settles, and in-process rate limits) and `stream`
(a streamed chat), at each concurrency, with wrk when installed (else a Python load
generator). It prints throughput, latency percentiles, the added latency, the suite's
CPU per call (by service) and its RSS, with the issue's targets met or missed.
`--compare REV` benches a checkout of REV beside the working tree, in alternating
rounds. Everything it started is stopped, and its temporary files removed, on any exit.

    .venv/bin/python bench/run.py [--duration 10] [--concurrency 1,32] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import compare
import report
import spy
from loadgen import Sample
from measure import Bench, Loader, direct_benches, idle_rate, measure, suite_benches
from procs import Snapshot
from suite import (
    BUDGETED,
    PROJECT,
    BenchError,
    Suite,
    budget_held,
    ledger_requests,
    run_in_home,
    start_suite,
    suite_env,
)
from suite import tail as log_tail
from upstream import start_upstream
from wrk import find_wrk

CURRENT, PREVIOUS = "work", "rev"  # the suites' labels with --compare
MODES = {"one": "--one-process", "two": "--two-processes", "split": "--split"}  # --modes


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--concurrency", default="1,32", help="comma-separated (default 1,32)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per target per case")
    p.add_argument(
        "--requests", type=int, help="requests per target per case (not --duration; Python only)"
    )
    p.add_argument("--warmup", type=int, default=50, help="Python: requests per target first")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    p.add_argument("--pause", type=float, default=1.0, help="seconds of rest after each run")
    p.add_argument("--no-stream", action="store_true", help="skip the streaming case")
    p.add_argument("--python-load", action="store_true", help="the Python generator, not wrk")
    p.add_argument("--mock-upstream", action="store_true", help="the Python mock, not nginx")
    p.add_argument("--compare", metavar="REV", help="also bench a checkout of REV, alternating")
    p.add_argument(
        "--modes",
        action="store_true",
        help="bench the working tree's `tollgate up` in its three modes (one process, two\n"
        "processes, split), alternating (not with --compare)",
    )
    p.add_argument(
        "--mode",
        choices=sorted(MODES),
        help="the working tree's `tollgate up` mode (default: its own default); split shows\n"
        "each service's CPU apart, also beside --compare's REV",
    )
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy each service, at c=max")
    p.add_argument(
        "--profile-case",
        choices=("plain", "budgeted", "stream"),
        default="plain",
        help="the case --profile runs (default plain)",
    )
    p.add_argument("--database-url", help="e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    if args.rounds < 1 or args.duration <= 0 or min(args.warmup, args.pause) < 0:
        p.error("--rounds and --duration must be positive, --warmup and --pause not negative")
    if args.requests is not None and args.requests < 1:
        p.error("--requests must be positive")
    if args.modes and args.compare:
        p.error("--modes and --compare: one or the other")
    if args.modes and args.mode:
        p.error("--modes and --mode: one or the other")
    return args


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": " ".join(f"{x:.2f}" for x in load) or "?",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def start_suites(
    args: argparse.Namespace, home: Path, stack: ExitStack, upstream: Any
) -> dict[str, Suite]:
    """The working tree's suite, and REV's beside it with --compare (or the working
    tree's in each of tollgate up's modes with --modes), by label."""
    if args.modes:
        return {
            label: start_suite(
                home / f"suite-{label}", stack, args.database_url, upstream, up_args=(flag,)
            )
            for label, flag in MODES.items()
        }
    mode = (MODES[args.mode],) if args.mode else ()
    if not args.compare:
        return {"": start_suite(home / "suite", stack, args.database_url, upstream, up_args=mode)}
    tree, commit = stack.enter_context(compare.checkout(args.compare))
    print(f"rev = {args.compare} ({commit}), work = the working tree")
    return {
        CURRENT: start_suite(home / "suite-work", stack, args.database_url, upstream, up_args=mode),
        PREVIOUS: start_suite(home / "suite-rev", stack, args.database_url, upstream, tree),
    }


def bench(args: argparse.Namespace, home: Path, stack: ExitStack) -> int:
    info = machine()
    env = suite_env(home, home / "none.yaml")
    upstream = start_upstream(home, stack, env, args.mock_upstream)
    suites = start_suites(args, home, stack, upstream)
    loader = Loader(None if args.python_load else find_wrk(), home)
    print(
        f"tollgate bench: {info['cores']} cores ({info['usable_cores']} usable), "
        f"{info['python']}, {info['platform']}\nload average before the bench: "
        f"{info['load_average']}\nupstream: {upstream.kind}; load: {loader.name}"
    )
    for label, suite in suites.items():
        print(f"suite{' ' + label if label else ''}: {suite.code}; database: {suite.database}")
    if loader.wrk is None and not args.python_load:
        print("(wrk is not installed: `apt-get install -y wrk` for figures without the client)")
    amount = f"{args.requests} requests" if args.requests else f"{args.duration:g} s"
    print(f"{amount} per target per concurrency in {args.rounds} interleaved rounds")

    benches = direct_benches(upstream.json_base, upstream.stream_base)
    for label, suite in suites.items():
        benches += suite_benches(suite, label, not args.no_stream)
    if args.no_stream:
        benches = [b for b in benches if not b.kind.stream]
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    idle = {s.up_pid: idle_rate(s.up_pid) for s in suites.values()}
    for label, suite in suites.items():
        rates = ", ".join(f"{k} {v * 1000:.0f}" for k, v in sorted(idle[suite.up_pid].items()))
        print(f"idle CPU{' of ' + label if label else ''}, ms/s: {rates} (off the pauses)")
    all_rows: list[report.Row] = []
    answered = {label: s.setup_calls for label, s in suites.items()}
    in_flight = dict.fromkeys(suites, 0)  # wrk stops with calls in flight, uncounted
    errors: list[str] = []
    for c in levels:
        print(f"  measuring at concurrency {c} ...", flush=True)
        try:
            measured = measure(
                benches,
                c,
                loader,
                rounds=args.rounds,
                seconds=None if args.requests else args.duration,
                requests=args.requests,
                warmup=args.warmup,
                pause=args.pause,
                idle_rates=idle,
            )
        except BenchError as exc:
            raise BenchError(f"{exc}\n{suite_logs(suites)}") from None
        all_rows += report.rows(c, benches, measured)
        for b, m in zip(benches, measured, strict=True):
            if b.suite is not None:
                answered[b.label] += m.sample.ok
                in_flight[b.label] += c * (args.rounds + 1) if loader.wrk else 0
            if m.sample.errors:
                errors.append(f"c={c} {b.target.name}: {m.sample.errors} errors, among them:")
                errors += [f"    {e}" for e in m.sample.error_examples]
    report.print_rows(all_rows)
    if args.profile:
        profiled = run_profile(args, benches, loader, max(levels))
        if profiled is not None:
            label, sample = profiled
            answered[label] += sample.ok
            in_flight[label] += max(levels) if loader.wrk else 0
            if sample.errors:
                errors += [f"profile run: {sample.errors} errors", *sample.error_examples]
    if args.modes:
        report.print_ratios(all_rows, "one", "split")
        report.print_ratios(all_rows, "two", "split")
    elif len(suites) == 2:
        report.print_ratios(all_rows, CURRENT, PREVIOUS)
    figures: dict[str, Any] = {"suites": {}}
    for label, suite in suites.items():
        figures["suites"][label] = check_suite(label, suite, answered[label], in_flight[label])
        errors += figures["suites"][label].pop("problems")
    if args.json:
        figures.update(
            machine=info,
            upstream=upstream.kind,
            load=loader.name,
            settings={k: str(v) for k, v in vars(args).items()},
            rows=[report.row_json(r) for r in all_rows],
            errors=errors,
        )
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if not errors:
        return 0
    logs = suite_logs(suites)
    bar = "!" * 78
    print(
        f"\n{bar}\nBENCH INVALID: the figures above are suspect",
        *errors,
        logs,
        bar,
        sep="\n",
        file=sys.stderr,
    )
    return 1


def run_profile(
    args: argparse.Namespace, benches: list[Bench], loader: Loader, c: int
) -> tuple[str, Sample] | None:
    """py-spy on every service while `--profile-case` runs at concurrency `c` (the first
    suite); the suite's label and what the run saw (its calls reach the ledger too)."""
    py_spy = spy.find_py_spy()
    if py_spy is None:
        print("--profile: py-spy is not installed (`.venv/bin/pip install py-spy`)")
        return None
    plain = next(b for b in benches if b.kind.name == args.profile_case and b.suite is not None)
    assert plain.suite is not None
    seconds = max(round(args.duration), 5)
    print(f"\nprofiling {plain.target.name} at c={c} for {seconds} s with py-spy ...", flush=True)
    recorders = spy.start(py_spy, plain.suite.up_pid, args.profile, seconds)
    time.sleep(0.5)  # py-spy attaches
    sample = loader.run(plain, c, seconds=seconds)
    spy.wait(recorders, timeout=seconds + 30)
    time.sleep(args.pause)
    print(f"top functions by own time (collapsed stacks in {args.profile}):")
    print(spy.summary(args.profile))
    return plain.label, sample


def suite_logs(suites: dict[str, Suite]) -> str:
    return "\n".join(
        f"--- the `tollgate up` log of {s.home} (gateway {s.gateway_url}):\n"
        f"{log_tail(s.home / 'up.log')}"
        for s in suites.values()
    )


def check_suite(label: str, suite: Suite, answered: int, in_flight: int) -> dict[str, Any]:
    """RSS, the ledger (one row per answered call) and the budget (nothing left reserved)."""
    rss = Snapshot.take(suite.up_pid).rss_by_service()
    rss_met = report.print_rss(label, rss)
    recorded = ledger_requests(suite, answered)
    problems = []
    # wrk stops with calls in flight: the gateway may answer them after wrk counted.
    if not answered <= recorded <= answered + in_flight:
        problems.append(
            f"ledger{' of ' + label if label else ''}: {recorded} calls recorded, "
            f"{answered} answered (+ up to {in_flight} in flight at wrk's stops)"
        )
    print(
        f"ledger: {recorded} calls recorded, {answered} answered by the gateway"
        f" (+ up to {in_flight} in flight when wrk stopped)"
        + ("  <-- MISMATCH, after waiting 15 s" if problems else "")
    )
    spent, reserved = budget_held(suite)
    if Decimal(reserved or "0") != 0:
        problems.append(f"budget of {BUDGETED}: {reserved} still reserved")
    print(f"budget of {BUDGETED}: {spent} spent, {reserved} still reserved")
    return {
        "database": suite.database,
        "code": suite.code,
        "rss_mb": report.rss_mb(rss),
        "rss_target_met": rss_met,
        "ledger_requests": recorded,
        "gateway_requests": answered,
        "in_flight_allowance": in_flight,
        "projects": [PROJECT, BUDGETED],
        "problems": problems,
    }


def main() -> int:
    args = parse_args()
    return run_in_home("bench", lambda home, stack: bench(args, home, stack))


if __name__ == "__main__":
    sys.exit(main())
