"""Benchmark: a month's usage report over a large ledger, from the daily rollups and
straight from the ledger, on PostgreSQL.

Makes a fresh schema, migrates it, fills the ledger with --rows calls in SQL
(generate_series, a million rows a statement; indexes built after the load), builds
the rollups with the same SQL a repair uses, then times one project's report for one
whole month both ways and checks that both give the same totals. The schema is dropped
at the end unless --keep.

    .venv/bin/python bench/reports.py [--rows 10000000] [--database-url URL]
    make bench-reports
"""

from __future__ import annotations

import argparse
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.metering.breakdown import ReportQuery, range_report  # noqa: E402
from services.metering.rollups import rebuild_rollups  # noqa: E402
from tollgate.db import make_engine, upgrade  # noqa: E402
from tollgate.db.models import LEDGER  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIRST_DAY = date(2026, 8, 1)  # the data covers --days days from here
MONTH = (date(2026, 9, 1), date(2026, 9, 30))  # the month reported
CHUNK = 1_000_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL URL")
    p.add_argument("--rows", type=int, default=10_000_000, help="ledger rows (default 10M)")
    p.add_argument("--projects", type=int, default=10)
    p.add_argument("--days", type=int, default=91, help="days of data from 2026-08-01")
    p.add_argument("--keys", type=int, default=5, help="keys per project")
    p.add_argument("--models", type=int, default=4)
    p.add_argument("--users", type=int, default=50, help="end users per project")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per query (median shown)")
    p.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    args = p.parse_args()
    if not args.database_url.startswith("postgresql"):
        p.error("--database-url must be a PostgreSQL URL")
    return args


@contextmanager
def fresh_schema(url: str, keep: bool) -> Iterator[str]:
    schema = f"bench_reports_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    print(f"schema {schema}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def ledger_select(args: argparse.Namespace, start: int, stop: int) -> str:
    """SELECT of ledger rows g in [start, stop), all in SQL. Calls arrive in time order
    (the ledger is append-only); every 50th call failed (costs nothing)."""
    seconds = args.days * 86400
    p, k, m, u = args.projects, args.keys, args.models, args.users
    prompt = "(100 + (g * 7919) % 4000)"
    completion = "(10 + (g * 104729) % 800)"
    failed = "g % 50 = 0"
    columns = {
        "request_id": "'bench-' || g",
        "project_id": f"'prj_bench_' || (g % {p})",
        "key_id": f"'key_bench_' || (g % {p}) || '_' || ((g / {p}) % {k})",
        "end_user": f"'user' || ((g / 7) % {u})",
        "model_requested": f"'model-' || ((g / 3) % {m})",
        "model_served": f"'model-' || ((g / 3) % {m})",
        "provider": "'openai'",
        "prompt_tokens": f"CASE WHEN {failed} THEN 0 ELSE {prompt} END",
        "completion_tokens": f"CASE WHEN {failed} THEN 0 ELSE {completion} END",
        "cached_tokens": f"CASE WHEN {failed} THEN 0 ELSE (g % 3) * 50 END",
        "reasoning_tokens": "0",
        "cache_write_tokens": "0",
        "usage_source": "'provider'",
        # 2.5 and 10 CNY per million tokens, in nano-units.
        "cost_nano": f"CASE WHEN {failed} THEN 0 ELSE {prompt} * 2500 + {completion} * 10000 END",
        "currency": "'CNY'",
        "status": f"CASE WHEN {failed} THEN 'failed' WHEN g % 97 = 0 THEN 'partial' ELSE 'ok' END",
        "http_status": f"CASE WHEN {failed} THEN 502 ELSE 200 END",
        "stream": "g % 2 = 0",
        "latency_ms": "100 + g % 900",
        "started_at": f"TIMESTAMPTZ '{FIRST_DAY} 00:00:00+00' "
        f"+ ((g - 1) * {seconds}::bigint / {args.rows}) * INTERVAL '1 second'",
        "recorded_at": f"TIMESTAMPTZ '{FIRST_DAY} 00:00:00+00' "
        f"+ ((g - 1) * {seconds}::bigint / {args.rows}) * INTERVAL '1 second'",
    }
    names = [c for c in LEDGER.c.keys() if c != "id"]
    unknown = [c for c in names if c not in columns]
    if unknown:
        raise SystemExit(f"bench/reports.py does not know ledger columns {unknown}")
    return (
        f"INSERT INTO ledger ({', '.join(names)}) "
        f"SELECT {', '.join(columns[c] for c in names)} "
        f"FROM generate_series({start}::bigint, {stop - 1}::bigint) AS g"
    )


def fill(engine: Engine, args: argparse.Namespace) -> float:
    began = time.perf_counter()
    with engine.begin() as conn:
        for i in range(args.projects):
            conn.execute(
                text(
                    "INSERT INTO projects (id, name, currency, created_at) "
                    "VALUES (:id, :name, 'CNY', TIMESTAMPTZ '2026-07-01 00:00:00+00')"
                ),
                {"id": f"prj_bench_{i}", "name": f"bench-{i}"},
            )
        # Indexes are built once after the load, much faster than row by row.
        conn.execute(text("ALTER TABLE ledger DROP CONSTRAINT uq_ledger_request_id"))
        conn.execute(text("DROP INDEX ix_ledger_project_started"))
    for start in range(1, args.rows + 1, CHUNK):
        with engine.begin() as conn:
            conn.execute(text(ledger_select(args, start, min(start + CHUNK, args.rows + 1))))
        print(f"  {min(start + CHUNK - 1, args.rows):>11,} rows", flush=True)
    with engine.begin() as conn:
        conn.execute(
            text("ALTER TABLE ledger ADD CONSTRAINT uq_ledger_request_id UNIQUE (request_id)")
        )
        conn.execute(
            text("CREATE INDEX ix_ledger_project_started ON ledger (project_id, started_at)")
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE ledger"))
    return time.perf_counter() - began


def build_rollups(engine: Engine) -> tuple[float, int]:
    began = time.perf_counter()
    with engine.begin() as conn:
        count = rebuild_rollups(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE usage_rollups"))
    return time.perf_counter() - began, count


def direct_sql(by: tuple[str, ...]) -> str:
    """The same report summed straight from the ledger."""
    column = {
        "model": "model_served",
        "key": "key_id",
        "user": "end_user",
        "day": "CAST(started_at AT TIME ZONE 'UTC' AS DATE)",
    }
    group = ", ".join(column[name] for name in by)
    return (
        f"SELECT {group}, SUM(cost_nano), COUNT(*) FILTER (WHERE status IN ('ok', 'partial')) "
        "FROM ledger WHERE project_id = :project "
        "AND started_at >= :start AND started_at < :after "
        f"GROUP BY {group}"
    )


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = run()  # warm-up
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000, result


def size(engine: Engine, table: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(text(f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))")).scalar()
        )


def main() -> int:
    args = parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.rows:,} ledger rows")
    with fresh_schema(args.database_url, args.keep) as url:
        upgrade(url)
        engine = make_engine(url)
        print("filling the ledger ...")
        fill_s = fill(engine, args)
        rollup_s, rollup_rows = build_rollups(engine)
        print(f"ledger: {args.rows:,} rows, {size(engine, 'ledger')}, loaded in {fill_s:.0f} s")
        print(
            f"rollups: {rollup_rows:,} rows, {size(engine, 'usage_rollups')}, "
            f"built in {rollup_s:.0f} s"
        )
        project = "prj_bench_3"
        first, last = MONTH
        params = {
            "project": project,
            "start": f"{first} 00:00:00+00",
            "after": f"{date(last.year, last.month + 1, 1)} 00:00:00+00",
        }
        print(f"\none project's report for {first:%B %Y}, median of {args.repeat} warm runs")
        print(f"{'BY':<24} {'LINES':>7} {'ROLLUPS ms':>11} {'LEDGER ms':>10} {'SPEEDUP':>8} SAME")
        for by in [("model",), ("day",), ("day", "model", "key", "user")]:
            query = ReportQuery(first, last, by, project)
            rollup_ms, report = timed(lambda q=query: range_report(engine, q), args.repeat)

            def direct(by: tuple[str, ...] = by) -> list[Any]:
                with engine.connect() as conn:
                    return list(conn.execute(text(direct_sql(by)), params).all())

            ledger_ms, rows = timed(direct, args.repeat)
            same = (
                report.totals["CNY"].cost_nano == sum(int(r[-2]) for r in rows)
                and report.totals["CNY"].requests == sum(int(r[-1]) for r in rows)
                and len(report.lines) == len(rows)
            )
            print(
                f"{','.join(by):<24} {len(report.lines):>7} {rollup_ms:>11.1f} "
                f"{ledger_ms:>10.1f} {ledger_ms / rollup_ms:>7.1f}x {'yes' if same else 'NO'}"
            )
            if not same:
                return 1
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
