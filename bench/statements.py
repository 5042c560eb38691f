"""Benchmark: the database steps off the request path, in-process, without gRPC.

Times each call with time.perf_counter on a fresh database (a temporary SQLite file by
default) and prints the median and mean per call:

- `ledger add`: UsageLedger.add of a new call (the ledger insert and the rollup upsert)
- `ledger add dup`: UsageLedger.add of a call already there (the insert skips, then reads)
- `ledger find`: UsageLedger.find
- `authorize hard`: ReservationBook.authorize under a hard budget of the project and of the key
- `settle`: ReservationBook.settle of those reservations

    .venv/bin/python bench/statements.py [--calls 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.budget.admin import budgets  # noqa: E402
from services.budget.admin import operations as admin  # noqa: E402
from services.budget.prices import seed_prices  # noqa: E402
from services.budget.reservations import Decision, ReservationBook, Usage  # noqa: E402
from services.metering.ledger import Entry, UsageLedger  # noqa: E402
from tollgate.config import load_settings  # noqa: E402
from tollgate.db import make_engine, upgrade  # noqa: E402

STARTED = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)  # after the seeded prices take effect


def timed(name: str, calls: int, step: Callable[[int], object]) -> None:
    took = []
    for i in range(calls):
        start = time.perf_counter()
        step(i)
        took.append(time.perf_counter() - start)
    median, mean = statistics.median(took) * 1e6, statistics.fmean(took) * 1e6
    print(f"{name:<16} median {median:8.0f} us   mean {mean:8.0f} us   ({calls} calls)")


def entry(request_id: str, project_id: str, key_id: str) -> Entry:
    return Entry(
        request_id=request_id,
        project_id=project_id,
        key_id=key_id,
        end_user="",
        model_requested="demo",
        model_served="demo",
        provider="demo",
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=0,
        reasoning_tokens=0,
        usage_source="provider",
        cost_nano=123_000,
        currency="CNY",
        status="ok",
        http_status=200,
        stream=False,
        latency_ms=40,
        started_at=STARTED,
    )


def run(url: str, calls: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="CNY").id
    key = admin.create_key(engine, "acme", "ci").info.id
    budgets.set_budget(engine, "acme", period="monthly", amount="1000000")
    budgets.set_budget(engine, "acme", key_id=key, period="daily", amount="1000000")

    usage = UsageLedger(engine)
    timed("ledger add", calls, lambda i: usage.add(entry(f"u{i}", project, key)))
    timed("ledger add dup", calls, lambda i: usage.add(entry(f"u{i}", project, key)))
    timed("ledger find", calls, lambda i: usage.find(f"u{i}"))

    ledger = ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600)

    def authorize(i: int) -> None:
        result = ledger.authorize(f"r{i}", project, key, "demo", 1000, 200, now=STARTED)
        assert result.decision is Decision.ALLOWED and result.reserved_nano, result

    timed("authorize hard", calls, authorize)
    done = Usage(prompt_tokens=1000, completion_tokens=150)
    timed("settle", calls, lambda i: ledger.settle(f"r{i}", project, key, "demo", done, STARTED))
    engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=2000, help="calls per step (default 2000)")
    p.add_argument("--database-url", help="a migrated-or-empty database (default: temp SQLite)")
    args = p.parse_args()
    if args.database_url:
        run(args.database_url, args.calls)
        return
    with tempfile.TemporaryDirectory() as home:
        run(f"sqlite:///{home}/tollgate.db", args.calls)


if __name__ == "__main__":
    main()
