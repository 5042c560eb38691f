"""A project's month: totals and a by-model breakdown (the bill). Read from the daily
rollups, whose sums equal the ledger's exactly; every total is an integer sum, so it
equals the sum of its ledger rows exactly (invariant 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func, select

from services.metering.days import today_utc
from services.metering.forecast import Forecast, project_forecast
from services.metering.savings import Sums, ledger_savings
from tollgate.db import read_transaction
from tollgate.db.models import PROJECTS, ROLLUPS


@dataclass
class Line:
    model: str
    total_nano: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass
class Report:
    project_id: str
    project: str
    period: str
    currency: str
    total_nano: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    by_model: list[Line] = field(default_factory=list)
    # From the ledger (see savings.py): the month's cache hits, and what was saved.
    cache_hits: int = 0
    saved_nano: int = 0


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of "YYYY-MM", in UTC."""
    try:
        year, month = (int(part) for part in period.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"period: {period!r} is not a month such as 2026-11") from exc
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def current_period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def usage_report(engine: Engine, project_id: str, period: str | None = None) -> Report:
    period = period or current_period()
    start, end = month_bounds(period)
    first, last = start.date(), (end - timedelta(days=1)).date()
    sums = [
        func.sum(ROLLUPS.c[name])
        for name in ("cost_nano", "requests", "prompt_tokens", "completion_tokens")
    ]
    query = (
        select(ROLLUPS.c.model, *sums, func.sum(ROLLUPS.c.cached_tokens))
        .where(
            ROLLUPS.c.project_id == project_id,
            ROLLUPS.c.day >= first,
            ROLLUPS.c.day <= last,
        )
        .group_by(ROLLUPS.c.model)
        .order_by(ROLLUPS.c.model)
    )
    with read_transaction(engine) as conn:
        project = conn.execute(
            select(PROJECTS.c.name, PROJECTS.c.currency).where(PROJECTS.c.id == project_id)
        ).first()
        if project is None:
            raise LookupError(project_id)
        rows = conn.execute(query).all()
        saved = ledger_savings(conn, start, end, project_id).totals.get(project.currency, Sums())
    report = Report(project_id, project.name, period, project.currency)
    report.cache_hits, report.saved_nano = saved.cache_hits, saved.saved_nano
    for model, *amounts in rows:
        line = Line(model, *(int(value or 0) for value in amounts))
        if not line.requests and not line.total_nano:
            continue  # only failed calls: nothing billed, nothing to show
        report.by_model.append(line)
        report.total_nano += line.total_nano
        report.requests += line.requests
        report.input_tokens += line.input_tokens
        report.output_tokens += line.output_tokens
        report.cached_tokens += line.cached_tokens
    return report


def forecast_for(engine: Engine, report: Report, today: date | None = None) -> Forecast | None:
    """This month's forecast when the report is of the current month, else None."""
    today = today or today_utc()
    if report.period != today.strftime("%Y-%m"):
        return None
    return project_forecast(engine, report.project_id, today)
