"""Memory soak: does the suite's RSS stay flat under steady load?

Starts the same static upstream and `tollgate up` as `run.py`, then sends load for
`--minutes` minutes, a minute at a time, each minute split between the plain, budgeted
and streamed cases (wrk when installed, else the Python generator). After each minute
it reads every tollgate process's RSS from /proc, and at the end it prints the table,
the calls sent, and two verdicts: the RSS after at least 20,000 calls (the issue's
target: under 400 MB), and flatness: over the second half of the soak, the suite's RSS
may not grow by more than `--flat-mb` (a warm-up, first allocations and caches, fills
the first half). The ledger must hold every answered call, as in run.py.

    .venv/bin/python bench/soak.py [--minutes 10] [--concurrency 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import Loader, suite_benches
from procs import Snapshot
from suite import ledger_requests, run_in_home, start_suite, suite_env
from upstream import start_upstream
from wrk import find_wrk

RSS_TARGET_MB = 400
CALLS_FOR_RSS = 20_000  # the "after 20,000 calls"
MODES = {"one": "--one-process", "two": "--two-processes", "split": "--split"}


@dataclass
class Minute:
    """What one minute of load saw: calls answered (all cases), errors, and each
    process's RSS in MB after it."""

    minute: int
    calls: int
    errors: int
    rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def total_mb(self) -> float:
        return sum(self.rss_mb.values())


def verdicts(minutes: list[Minute], flat_mb: float) -> dict[str, Any]:
    """The soak's verdicts: RSS after CALLS_FOR_RSS calls (the first minute that had sent
    that many; None when the soak sent fewer), and growth over the second half (the
    last minute's total minus the total at the middle minute)."""
    sent = 0
    at_target: Minute | None = None
    for minute in minutes:
        sent += minute.calls
        if at_target is None and sent >= CALLS_FOR_RSS:
            at_target = minute
    middle = minutes[(len(minutes) - 1) // 2]
    growth = minutes[-1].total_mb - middle.total_mb
    return {
        "calls": sent,
        "rss_after_20000_mb": None if at_target is None else round(at_target.total_mb, 1),
        "rss_met": at_target is not None and at_target.total_mb < RSS_TARGET_MB,
        "second_half_growth_mb": round(growth, 1),
        "flat": len(minutes) >= 2 and growth <= flat_mb,
        "peak_mb": round(max(m.total_mb for m in minutes), 1),
    }


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=int, default=10, help="minutes of load (default 10)")
    p.add_argument("--concurrency", type=int, default=8, help="connections (default 8)")
    p.add_argument("--flat-mb", type=float, default=5.0, help="allowed second-half growth")
    p.add_argument("--mode", choices=sorted(MODES), help="tollgate up's mode (default its own)")
    p.add_argument("--python-load", action="store_true", help="the Python generator, not wrk")
    p.add_argument("--mock-upstream", action="store_true", help="the Python mock, not nginx")
    p.add_argument("--database-url", help="e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    if args.minutes < 2:
        p.error("--minutes: at least 2 (flatness compares the halves)")
    return args


def soak(args: argparse.Namespace, home: Path, stack: ExitStack) -> int:
    env = suite_env(home, home / "none.yaml")
    upstream = start_upstream(home, stack, env, args.mock_upstream)
    mode = (MODES[args.mode],) if args.mode else ()
    suite = start_suite(home / "suite", stack, args.database_url, upstream, up_args=mode)
    loader = Loader(None if args.python_load else find_wrk(), home)
    benches = suite_benches(suite, "", stream=True)
    print(
        f"soak: {args.minutes} min at c={args.concurrency}, cases "
        f"{', '.join(b.kind.name for b in benches)} in turn; upstream {upstream.kind}; "
        f"load {loader.name}; database {suite.database}",
        flush=True,
    )
    minutes: list[Minute] = []
    answered = in_flight = 0
    for number in range(1, args.minutes + 1):
        calls = errors = 0
        for bench in benches:
            sample = loader.run(bench, args.concurrency, seconds=60 / len(benches))
            calls += sample.ok
            errors += sample.errors
        rss = Snapshot.take(suite.up_pid).rss_by_service()
        minute = Minute(number, calls, errors, {k: v / 2**20 for k, v in rss.items() if v})
        minutes.append(minute)
        answered += calls
        in_flight += args.concurrency * len(benches)
        shown = ", ".join(f"{k} {v:.0f}" for k, v in sorted(minute.rss_mb.items()))
        print(
            f"  minute {number:2}: {calls:6} calls, {errors} errors; "
            f"RSS {minute.total_mb:6.1f} MB ({shown})",
            flush=True,
        )
    found = verdicts(minutes, args.flat_mb)
    recorded = ledger_requests(suite, answered + suite.setup_calls)
    ledger_ok = answered + suite.setup_calls <= recorded <= answered + suite.setup_calls + in_flight
    errors = sum(m.errors for m in minutes)
    print(
        f"calls: {found['calls']} ({errors} errors); ledger: {recorded} rows "
        f"({'each call once' if ledger_ok else 'MISMATCH'})\n"
        f"RSS after {CALLS_FOR_RSS} calls: {found['rss_after_20000_mb']} MB; "
        f"target < {RSS_TARGET_MB} MB: {_verdict(found['rss_met'])}\n"
        f"second half: {found['second_half_growth_mb']:+.1f} MB (peak {found['peak_mb']} MB); "
        f"flat (<= {args.flat_mb:+.1f} MB): {_verdict(found['flat'])}"
    )
    if args.json:
        figures = {**found, "ledger_rows": recorded, "errors": errors}
        figures["minutes"] = [m.__dict__ for m in minutes]
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ledger_ok and not errors else 1


def main() -> int:
    args = parse_args()
    return run_in_home("soak", lambda home, stack: soak(args, home, stack))


if __name__ == "__main__":
    sys.exit(main())
