"""Benchmark: what the gateway adds to a call, against a fast local upstream.

Starts `tollgate mock-upstream` and `tollgate up` (in a fresh temporary home, on free
ports), makes two projects and a key of each with the CLI, then sends one fixed small
chat request directly to the upstream and through the gateway with each key (`gateway`:
a project without budget or rate limit; `budgeted`: a project with a hard budget, so
every call reserves and settles, and in-process rate limits), at each concurrency, and
prints throughput, latency percentiles, the gateway/direct ratios and the added latency.
Everything it started is stopped, and its temporary home removed, on any exit.

    .venv/bin/python bench/run.py [--duration 10] [--concurrency 1,32] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
from collections.abc import Coroutine
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from loadgen import Sample, Stats, Target, chat_body, make_clients, run_load
from suite import (
    BUDGETED,
    MODEL,
    PROJECT,
    BenchError,
    Suite,
    budget_held,
    ledger_requests,
    start_suite,
    tail,
)

TARGET_ADDED_P50_MS = 2.0  # the goal, at concurrency 1


@dataclass(frozen=True)
class Case:
    concurrency: int
    stream: bool

    @property
    def label(self) -> str:
        return f"c={self.concurrency} {'stream' if self.stream else 'json'}"


@dataclass(frozen=True)
class Result:
    case: Case
    direct: Stats
    gateways: dict[str, Stats]  # the targets through the gateway, by name

    @property
    def gateway(self) -> Stats:
        return self.gateways["gateway"]

    def figures(self, name: str = "gateway") -> dict[str, float]:
        d, g = self.direct, self.gateways[name]
        return {
            "throughput_ratio": g.rps / d.rps if d.rps else math.nan,
            "p50_ratio": g.p50 / d.p50,
            "p99_ratio": g.p99 / d.p99,
            "added_p50_ms": g.p50 - d.p50,
            "added_p99_ms": g.p99 - d.p99,
        }


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gateway_ok: int = 0  # successful calls through the gateway, warm-ups and setup included


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--concurrency", default="1,32", help="comma-separated (default 1,32)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per target per case")
    p.add_argument("--requests", type=int, help="requests per target per case (not --duration)")
    p.add_argument("--warmup", type=int, default=50, help="requests per target before timing")
    p.add_argument("--rounds", type=int, default=2, help="interleaved direct/gateway rounds")
    p.add_argument("--pause", type=float, default=1.0, help="seconds of rest between runs")
    p.add_argument("--no-stream", action="store_true", help="skip the streaming case")
    p.add_argument("--database-url", help="e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    if args.rounds < 1 or args.duration <= 0 or min(args.warmup, args.pause) < 0:
        p.error("--rounds and --duration must be positive, --warmup and --pause not negative")
    if args.requests is not None and args.requests < 1:
        p.error("--requests must be positive")
    return args


def cases(args: argparse.Namespace) -> list[Case]:
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    return [Case(c, False) for c in levels] + ([] if args.no_stream else [Case(1, True)])


def warmup_count(case: Case, args: argparse.Namespace) -> int:
    return max(int(args.warmup), case.concurrency)


async def measure(case: Case, targets: list[Target], args: argparse.Namespace) -> list[Sample]:
    """Warm up every target, then time them in interleaved rounds (the order flips each
    round) so that noise from the shared machine falls on all of them alike."""
    body = chat_body(MODEL, case.stream)
    clients = [make_clients(case.concurrency) for _ in targets]
    samples = [Sample() for _ in targets]
    requests = None if args.requests is None else max(args.requests // args.rounds, 1)
    seconds = None if requests else args.duration / args.rounds
    try:
        for pool, target, sample in zip(clients, targets, samples, strict=True):
            warm = await run_load(
                pool, target, body, stream=case.stream, requests=warmup_count(case, args)
            )
            sample.add(warm.as_warmup())
        for round_ in range(args.rounds):
            for i in range(len(targets))[:: -1 if round_ % 2 else 1]:
                timed = await run_load(
                    clients[i],
                    targets[i],
                    body,
                    stream=case.stream,
                    requests=requests,
                    seconds=seconds,
                )
                samples[i].add(timed)
                await asyncio.sleep(args.pause)  # the gateway's usage records drain meanwhile
    finally:
        for client in (c for pool in clients for c in pool):
            await client.aclose()
    return samples


async def _stoppable(coro: Coroutine[Any, Any, list[Sample]]) -> list[Sample]:
    """`coro`, cancelled on SIGTERM (the runner already cancels it on Ctrl-C)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await coro
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def run_async(coro: Coroutine[Any, Any, list[Sample]]) -> list[Sample]:
    try:
        import uvloop  # a tollgate dependency; it makes the load generator itself cheaper
    except ImportError:
        return asyncio.run(_stoppable(coro))
    return uvloop.run(_stoppable(coro))


def run_cases(suite: Suite, args: argparse.Namespace) -> Run:
    json_type = {"content-type": "application/json"}
    auth = {**json_type, "authorization": f"Bearer {suite.secret}"}
    budgeted = {**json_type, "authorization": f"Bearer {suite.budgeted_secret}"}
    url = f"{suite.gateway_url}/chat/completions"
    targets = [
        Target("direct", f"{suite.upstream_url}/chat/completions", json_type),
        Target("gateway", url, auth),
        Target("budgeted", url, budgeted),
    ]
    run = Run(gateway_ok=suite.setup_calls)
    for case in cases(args):
        print(f"  measuring {case.label} ...", flush=True)
        samples = run_async(measure(case, targets, args))
        for target, sample in zip(targets, samples, strict=True):
            if target.name != "direct":
                run.gateway_ok += sample.ok
            if sample.errors:
                run.errors.append(
                    f"{case.label} {target.name}: {sample.errors} errors, among them:"
                )
                run.errors += [f"    {e}" for e in sample.error_examples]
        gateways = {t.name: Stats.of(s) for t, s in zip(targets[1:], samples[1:], strict=True)}
        run.results.append(Result(case, Stats.of(samples[0]), gateways))
    return run


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": " ".join(f"{x:.2f}" for x in load) or "?",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def print_header(info: dict[str, Any], suite: Suite, args: argparse.Namespace) -> None:
    amount = f"{args.requests} requests" if args.requests else f"{args.duration:g} s"
    print(
        f"tollgate bench: {info['cores']} cores ({info['usable_cores']} usable), "
        f"{info['python']}, {info['platform']}"
    )
    print(f"load average before the bench: {info['load_average']}")
    print(f"database: {suite.database}")
    print(
        f"targets: direct (the mock upstream), gateway (project `{PROJECT}`: no budget, "
        f"no rate limit),\n         budgeted (project `{BUDGETED}`: a hard budget, so "
        "every call reserves and settles, and in-process rate limits)"
    )
    print(
        f"{amount} per target per case in {args.rounds} interleaved rounds, after "
        f"{args.warmup} warm-up requests; model {MODEL}, max_tokens 16"
    )


def print_table(results: list[Result]) -> None:
    head = f"{'case':<12}{'target':<9}{'req/s':>8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
    print(f"\n{head} | {'g/d req/s':>9}{'p50':>6}{'p99':>6} | {'added p50':>9}{'added p99':>11}")
    for r in results:
        for name, s in (("direct", r.direct), *r.gateways.items()):
            label = r.case.label if name == "direct" else ""
            row = f"{label:<12}{name:<9}{s.rps:>8.0f}{s.p50:>8.2f}{s.p90:>8.2f}{s.p99:>8.2f} |"
            if name != "direct":
                f = r.figures(name)
                row += f"{f['throughput_ratio']:>9.2f}{f['p50_ratio']:>6.1f}{f['p99_ratio']:>6.1f}"
                row += f" | {f['added_p50_ms']:>6.2f} ms{f['added_p99_ms']:>8.2f} ms"
            print(row)
    print("g/d = gateway/direct; added = gateway minus direct; latency is to the last byte")
    first = next((r for r in results if r.case == Case(1, False)), None)
    if first is not None:
        added = first.figures()["added_p50_ms"]
        verdict = "met" if added < TARGET_ADDED_P50_MS else "NOT MET"
        budgeted = first.figures("budgeted")["added_p50_ms"]
        print(
            f"target, added p50 under {TARGET_ADDED_P50_MS:g} ms at concurrency 1: "
            f"{verdict} ({added:.2f} ms; {budgeted:.2f} ms with a hard budget and rate limits)"
        )


def bench(args: argparse.Namespace, home: Path, stack: ExitStack) -> int:
    suite = start_suite(home, stack, args.database_url)
    info = machine()
    print_header(info, suite, args)
    run = run_cases(suite, args)
    print_table(run.results)
    recorded = ledger_requests(suite, run.gateway_ok)
    mismatch = "" if recorded == run.gateway_ok else "  <-- MISMATCH, after waiting 15 s"
    print(
        f"ledger: {recorded} requests recorded, {run.gateway_ok} answered by the gateway{mismatch}"
    )
    spent, reserved = budget_held(suite)
    left = "" if Decimal(reserved or "0") == 0 else "  <-- STILL RESERVED"
    print(f"budget of {BUDGETED}: {spent} spent, {reserved} still reserved{left}")
    if args.json:
        figures = {
            "machine": info,
            "database": suite.database,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "target_added_p50_ms": TARGET_ADDED_P50_MS,
            "cases": [
                {
                    **asdict(r.case),
                    "direct": asdict(r.direct),
                    **{name: asdict(stats) for name, stats in r.gateways.items()},
                    **r.figures(),  # the gateway target's, as before
                    "budgeted_figures": r.figures("budgeted"),
                }
                for r in run.results
            ],
            "errors": run.errors,
            "ledger_requests": recorded,
            "gateway_requests": run.gateway_ok,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if not run.errors:
        return 0
    bar = "!" * 78
    print(
        f"\n{bar}\nBENCH INVALID: responses that were not 200; the figures above are suspect",
        *run.errors,
        f"--- tail of the `tollgate up` log:\n{tail(home / 'up.log')}",
        bar,
        sep="\n",
        file=sys.stderr,
    )
    return 1


def _interrupt(*_: object) -> NoReturn:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # outside the event loop; see _stoppable
    home = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    try:
        with ExitStack() as stack:  # stops, in reverse order, whatever was started
            return bench(args, home, stack)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
