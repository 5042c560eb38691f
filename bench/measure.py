"""Timing the targets: warm-ups, then interleaved rounds (the order flips each round, so
noise from the shared machine falls on every target alike), with each run's suite CPU.

Every timed run is bracketed by two snapshots of its suite's process tree: one right
before, one after the pause that follows it (the calls' usage records reach Metering
and their reservations settle with Budget in that pause, off the call's path but on
the same cores), so a target's CPU is everything its calls made the suite do. What the
suite burns idle (timers, polls; measured once per suite before the rounds, `idle_rates`)
is taken off for the pause's length only: the run itself counts whole.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wrk
from loadgen import Sample, Target, chat_body, make_clients, run_load
from procs import Snapshot
from suite import MODEL, STREAM_MODEL, Suite

WRK_WARMUP_S = 1.0


@dataclass(frozen=True)
class Kind:
    """What a target sends: plain (no budget), budgeted (hard budget and rate limits),
    stream (a streamed chat, no budget); `direct_json`/`direct_stream` go to the upstream."""

    name: str
    stream: bool
    key: str  # "plain", "budgeted", or "" for the upstream itself


PLAIN = Kind("plain", False, "plain")
BUDGETED = Kind("budgeted", False, "budgeted")
STREAM = Kind("stream", True, "plain")
DIRECT_JSON = Kind("direct", False, "")
DIRECT_STREAM = Kind("direct-stream", True, "")
DIRECT_OF = {PLAIN: DIRECT_JSON, BUDGETED: DIRECT_JSON, STREAM: DIRECT_STREAM}


@dataclass(frozen=True)
class Bench:
    """A target and what it belongs to: `suite` None for the upstream."""

    kind: Kind
    target: Target
    suite: Suite | None
    label: str  # the suite's label ("" without --compare)

    @property
    def model(self) -> str:
        return STREAM_MODEL if self.kind.stream else MODEL


@dataclass
class Measured:
    sample: Sample = field(default_factory=Sample)
    cpu_s: dict[str, float] = field(default_factory=dict)  # by service, timed runs only

    def add_cpu(self, used: dict[str, float]) -> None:
        for name, seconds in used.items():
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + seconds


def direct_benches(json_base: str, stream_base: str) -> list[Bench]:
    json_type = {"content-type": "application/json"}
    return [
        Bench(DIRECT_JSON, Target("direct", f"{json_base}/chat/completions", json_type), None, ""),
        Bench(
            DIRECT_STREAM,
            Target("direct-stream", f"{stream_base}/chat/completions", json_type),
            None,
            "",
        ),
    ]


def suite_benches(suite: Suite, label: str, stream: bool) -> list[Bench]:
    url = f"{suite.gateway_url}/chat/completions"
    secrets = {"plain": suite.secret, "budgeted": suite.budgeted_secret}
    kinds = [PLAIN, BUDGETED] + ([STREAM] if stream else [])
    return [
        Bench(
            kind,
            Target(
                f"{kind.name}{'@' + label if label else ''}",
                url,
                {
                    "content-type": "application/json",
                    "authorization": f"Bearer {secrets[kind.key]}",
                },
            ),
            suite,
            label,
        )
        for kind in kinds
    ]


@dataclass(frozen=True)
class Loader:
    """Runs one target at a concurrency: wrk when it is installed, else Python."""

    wrk: str | None
    workdir: Path

    @property
    def name(self) -> str:
        return "wrk (external)" if self.wrk else "Python httpx (in the bench's process)"

    def run(
        self,
        bench: Bench,
        concurrency: int,
        *,
        seconds: float | None = None,
        requests: int | None = None,
    ) -> Sample:
        body = chat_body(bench.model, bench.kind.stream)
        if self.wrk and seconds is not None:  # wrk runs for a time, not a count
            return wrk.run(self.wrk, self.workdir, bench.target, body, concurrency, seconds)
        return run_async(_python(bench, body, concurrency, seconds, requests))


async def _python(
    bench: Bench, body: bytes, concurrency: int, seconds: float | None, requests: int | None
) -> Sample:
    clients = make_clients(concurrency)
    try:
        return await run_load(
            clients,
            bench.target,
            body,
            stream=bench.kind.stream,
            requests=requests,
            seconds=seconds,
        )
    finally:
        for client in clients:
            await client.aclose()


async def _stoppable(coro: Coroutine[Any, Any, Sample]) -> Sample:
    """`coro`, cancelled on SIGTERM (the runner already cancels it on Ctrl-C)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await coro
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def run_async(coro: Coroutine[Any, Any, Sample]) -> Sample:
    try:
        import uvloop  # a tollgate dependency; it makes the load generator itself cheaper
    except ImportError:
        return asyncio.run(_stoppable(coro))
    return uvloop.run(_stoppable(coro))


def measure(
    benches: list[Bench],
    concurrency: int,
    loader: Loader,
    *,
    rounds: int,
    seconds: float | None,
    requests: int | None,
    warmup: int,
    pause: float,
    idle_rates: dict[int, dict[str, float]],
) -> list[Measured]:
    """Warm every target up, then time them in `rounds` interleaved rounds."""
    measured = [Measured() for _ in benches]
    per_round = None if requests is None else max(requests // rounds, 1)
    per_round_s = None if per_round else (seconds or 1.0) / rounds
    for bench, m in zip(benches, measured, strict=True):
        if loader.wrk:
            warm = loader.run(bench, concurrency, seconds=WRK_WARMUP_S)
        else:
            warm = loader.run(bench, concurrency, requests=max(warmup, concurrency))
        m.sample.add(warm.as_warmup())
    for round_ in range(rounds):
        for i in range(len(benches))[:: -1 if round_ % 2 else 1]:
            bench = benches[i]
            before = Snapshot.take(bench.suite.up_pid) if bench.suite else None
            timed = loader.run(bench, concurrency, seconds=per_round_s, requests=per_round)
            time.sleep(pause)  # the calls' usage records drain meanwhile
            if bench.suite and before:
                used = Snapshot.take(bench.suite.up_pid).cpu_since(before)
                idle = idle_rates.get(bench.suite.up_pid, {})
                measured[i].add_cpu(
                    {k: max(v - idle.get(k, 0.0) * pause, 0.0) for k, v in used.items()}
                )
            measured[i].sample.add(timed)
    return measured


def idle_rate(up_pid: int, seconds: float = 3.0, windows: int = 3) -> dict[str, float]:
    """CPU seconds per second each service of a suite burns with no calls: the least
    of `windows` windows over `seconds` in all, so a one-off (a service's garbage
    collector freezing its start-up objects, tollgate/gcfreeze.py) does not count as
    the rate of every pause."""
    rates: dict[str, float] = {}
    window = seconds / windows
    for n in range(windows):
        before = Snapshot.take(up_pid)
        time.sleep(window)
        for k, v in Snapshot.take(up_pid).cpu_since(before).items():
            rates[k] = v / window if n == 0 else min(rates.get(k, v / window), v / window)
    return rates
