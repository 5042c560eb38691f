"""Reports over any days, grouped by any dimensions: every line equals the sum of its
ledger rows, and the totals equal the sum of the lines and of the ledger rows
(invariant 1), on SQLite and PostgreSQL; CSV for finance keeps the amounts exact."""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from services.metering.breakdown import (
    DIMENSIONS,
    ReportQuery,
    parse_dimensions,
    range_report,
)
from services.metering.days import day_range
from services.metering.ledger import UsageLedger
from services.metering.report_messages import range_to_proto
from services.metering.reports import usage_report
from tests.metering.ledger_rows import BILLED, make_project, random_entries, write
from tollgate.db import make_engine
from tollgate.db.models import LEDGER
from tollgate.money import from_nano
from tollgate.reports.usage import report_csv, report_json

FIRST, LAST = date(2026, 10, 30), date(2026, 11, 2)  # the report's days
_COLUMN = {"project": "project_id", "key": "key_id", "model": "model_served", "user": "end_user"}


def expected_lines(
    engine: Any, by: tuple[str, ...], project: str | None
) -> dict[tuple[str, ...], list[int]]:
    """[cost, billed requests, prompt tokens] per group, summed from the raw ledger."""
    out: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    with engine.connect() as conn:
        rows = conn.execute(select(LEDGER)).mappings().all()
    for row in rows:
        started = row["started_at"]
        day = (started if started.tzinfo else started.replace(tzinfo=UTC)).date()
        if not FIRST <= day <= LAST or (project and row["project_id"] != project):
            continue
        group = tuple(day.isoformat() if name == "day" else row[_COLUMN[name]] for name in by) + (
            row["currency"],
        )
        sums = out[group]
        sums[0] += row["cost_nano"]
        if row["status"] in BILLED:
            sums[1] += 1
            sums[2] += row["prompt_tokens"]
    return dict(out)


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    for pid in ("p1", "p2", "p3"):
        make_project(engine, pid, f"name-{pid}", datetime(2026, 1, 1, tzinfo=UTC))
    rng = random.Random(11)
    # Days around the range, so its edges (midnight exactly, a microsecond before) count.
    write(UsageLedger(engine), random_entries(rng, 150, date(2026, 10, 28), 8), rng)
    yield engine
    engine.dispose()


def test_every_grouping_equals_the_ledger_exactly(engine) -> None:  # type: ignore[no-untyped-def]
    names = tuple(DIMENSIONS)
    groupings = [c for n in range(len(names) + 1) for c in itertools.combinations(names, n)]
    for by, project in itertools.product(groupings, [None, "p2"]):
        report = range_report(engine, ReportQuery(FIRST, LAST, by, project))
        got = {
            tuple(line.group[n] for n in by) + (line.currency,): [
                line.amounts.cost_nano,
                line.amounts.requests,
                line.amounts.prompt_tokens,
            ]
            for line in report.lines
        }
        expected = expected_lines(engine, by, project)
        assert got == expected, by
        (total,) = report.totals.values()
        assert total.cost_nano == sum(line.amounts.cost_nano for line in report.lines)
        assert total.cost_nano == sum(v[0] for v in expected.values())
        assert total.requests == sum(line.amounts.requests for line in report.lines)


def test_csv_for_finance_is_exact(engine) -> None:  # type: ignore[no-untyped-def]
    report = range_report(engine, ReportQuery(FIRST, LAST, ("project", "model", "day")))
    reply = range_to_proto(report)  # as Metering answers GetReport
    rows = list(csv.DictReader(io.StringIO(report_csv(reply))))
    assert list(rows[0])[:6] == ["project_id", "project", "model", "day", "currency", "total"]
    assert len(rows) == len(report.lines) > 10
    assert {r["currency"] for r in rows} == {"CNY"}
    assert {r["project"] for r in rows} == {"name-p1", "name-p2", "name-p3"}
    csv_total = sum(Decimal(r["total"]) for r in rows)
    assert csv_total == from_nano(report.totals["CNY"].cost_nano)
    assert Decimal(report_json(reply)["totals"][0]["total"]) == csv_total


def test_the_monthly_bill_reads_the_rollups_exactly(engine) -> None:  # type: ignore[no-untyped-def]
    report = usage_report(engine, "p1", "2026-11")
    by_model: dict[str, int] = defaultdict(int)
    with engine.connect() as conn:
        for model, cost in conn.execute(
            select(LEDGER.c.model_served, LEDGER.c.cost_nano).where(
                LEDGER.c.project_id == "p1",
                LEDGER.c.started_at >= datetime(2026, 11, 1, tzinfo=UTC),
                LEDGER.c.started_at < datetime(2026, 12, 1, tzinfo=UTC),
            )
        ):
            by_model[model] += cost
    assert report.total_nano == sum(by_model.values()) > 0
    assert {line.model: line.total_nano for line in report.by_model} == {
        model: cost for model, cost in by_model.items() if cost
    }


@pytest.mark.parametrize(
    ("by", "message"),
    [("model,colour", "'colour' is not a dimension"), ("day, , model", None)],
)
def test_dimensions_are_checked(by: str, message: str | None) -> None:
    if message:
        with pytest.raises(ValueError, match=message):
            parse_dimensions(by)
    else:
        assert parse_dimensions(by) == ("day", "model")
    assert parse_dimensions("end_user,user,MODEL") == ("user", "model")


def test_day_ranges_default_to_this_month_and_are_checked() -> None:
    today = date(2026, 2, 17)
    assert day_range(None, None, today) == (date(2026, 2, 1), today)
    assert day_range(None, "2028-02-29", today) == (date(2028, 2, 1), date(2028, 2, 29))
    assert day_range("2026-01-05", None, today) == (date(2026, 1, 5), today)
    for bad in ("2026-02-30", "2026-2-1", "yesterday", "20260201"):
        with pytest.raises(ValueError, match="is not a day"):
            day_range(bad, None, today)
    with pytest.raises(ValueError, match="is after"):
        day_range("2026-02-10", "2026-02-09", today)
