"""Reports over the ledger. Every total is an integer SQL sum of ledger rows, so it
equals the sum of its rows exactly (invariant 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from tollgate.db.models import LEDGER, Project
from tollgate.money import format_amount

# Calls that were served (fully or partly) and billed; failed calls cost nothing.
BILLED = ("ok", "partial")


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
    billed = LEDGER.c.status.in_(BILLED)
    query = (
        select(
            LEDGER.c.model_served,
            func.coalesce(func.sum(LEDGER.c.cost_nano), 0),
            func.count().filter(billed),
            func.coalesce(func.sum(LEDGER.c.prompt_tokens).filter(billed), 0),
            func.coalesce(func.sum(LEDGER.c.completion_tokens).filter(billed), 0),
            func.coalesce(func.sum(LEDGER.c.cached_tokens).filter(billed), 0),
        )
        .where(
            LEDGER.c.project_id == project_id,
            LEDGER.c.started_at >= start,
            LEDGER.c.started_at < end,
        )
        .group_by(LEDGER.c.model_served)
        .order_by(LEDGER.c.model_served)
    )
    with engine.connect() as conn:
        project = conn.execute(
            select(Project.name, Project.currency).where(Project.id == project_id)
        ).first()
        if project is None:
            raise LookupError(project_id)
        rows = conn.execute(query).all()
        conn.rollback()
    report = Report(project_id, project.name, period, project.currency)
    for model, total, requests, prompt, completion, cached in rows:
        line = Line(model, int(total), int(requests), int(prompt), int(completion), int(cached))
        if not line.requests and not line.total_nano:
            continue  # only failed calls: nothing billed, nothing to show
        report.by_model.append(line)
        report.total_nano += line.total_nano
        report.requests += line.requests
        report.input_tokens += line.input_tokens
        report.output_tokens += line.output_tokens
        report.cached_tokens += line.cached_tokens
    return report


def bill(report: Report) -> dict[str, Any]:
    """A report as the bill's JSON: amounts are exact decimal strings."""
    return {
        "project": report.project,
        "project_id": report.project_id,
        "period": report.period,
        "currency": report.currency,
        "total": format_amount(report.total_nano),
        "requests": report.requests,
        "input_tokens": report.input_tokens,
        "output_tokens": report.output_tokens,
        "cached_tokens": report.cached_tokens,
        "by_model": [
            {
                "model": line.model,
                "total": format_amount(line.total_nano),
                "requests": line.requests,
                "input_tokens": line.input_tokens,
                "output_tokens": line.output_tokens,
                "cached_tokens": line.cached_tokens,
            }
            for line in report.by_model
        ],
    }
