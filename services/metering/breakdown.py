"""Reports over any range of whole UTC days, grouped by any of project, key, model,
end user and day. They read the daily rollups, whose sums equal the ledger's exactly,
and their totals are the sums of their lines (invariant 1). Amounts in different
currencies are never added: lines carry their currency and totals are per currency."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date

from sqlalchemy import Engine, func, select

from services.metering.rollups import SUMS
from tollgate.db import read_transaction
from tollgate.db.models import API_KEYS, PROJECTS, ROLLUPS

# Dimension name -> rollup column.
DIMENSIONS = {
    "project": ROLLUPS.c.project_id,
    "key": ROLLUPS.c.key_id,
    "model": ROLLUPS.c.model,
    "user": ROLLUPS.c.end_user,
    "day": ROLLUPS.c.day,
}
_ALIASES = {"end_user": "user", "project_id": "project", "key_id": "key"}


def parse_dimensions(text: str | Iterable[str]) -> tuple[str, ...]:
    """ "model,day" (or a list of names) -> ("model", "day"); unknown names are errors."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for part in parts:
        name = part.strip().lower()
        if not name:
            continue
        name = _ALIASES.get(name, name)
        if name not in DIMENSIONS:
            known = ", ".join(DIMENSIONS)
            raise ValueError(f"by: {part.strip()!r} is not a dimension; use any of {known}")
        if name not in names:
            names.append(name)
    return tuple(names)


def default_dimensions(project_id: str | None) -> tuple[str, ...]:
    """By model for one project, by project for all of them."""
    return ("model",) if project_id else ("project",)


@dataclass
class Amounts:
    requests: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    cost_nano: int = 0

    def add(self, other: Amounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


assert tuple(f.name for f in fields(Amounts)) == SUMS  # one order everywhere


@dataclass(frozen=True)
class ReportQuery:
    first: date  # inclusive UTC days
    last: date
    by: tuple[str, ...]
    project_id: str | None = None  # None: every project


@dataclass(frozen=True)
class Line:
    group: dict[str, str]  # dimension -> value; days as "YYYY-MM-DD"
    currency: str
    amounts: Amounts


@dataclass
class RangeReport:
    query: ReportQuery
    lines: list[Line] = field(default_factory=list)
    totals: dict[str, Amounts] = field(default_factory=dict)  # by currency
    project_names: dict[str, str] = field(default_factory=dict)  # id -> name
    key_names: dict[str, str] = field(default_factory=dict)  # id -> label


def range_report(engine: Engine, query: ReportQuery) -> RangeReport:
    if query.first > query.last:
        raise ValueError(f"from ({query.first}) is after to ({query.last})")
    columns = [DIMENSIONS[name] for name in query.by]
    statement = (
        select(*columns, ROLLUPS.c.currency, *(func.sum(ROLLUPS.c[name]) for name in SUMS))
        .where(ROLLUPS.c.day >= query.first, ROLLUPS.c.day <= query.last)
        .group_by(*columns, ROLLUPS.c.currency)
    )
    if query.project_id is not None:
        statement = statement.where(ROLLUPS.c.project_id == query.project_id)
    report = RangeReport(query)
    with read_transaction(engine) as conn:
        rows = conn.execute(statement).all()
        report.project_names = dict(conn.execute(select(PROJECTS.c.id, PROJECTS.c.name)).all())
        if "key" in query.by:
            keys = {row[query.by.index("key")] for row in rows}
            report.key_names = dict(
                conn.execute(
                    select(API_KEYS.c.id, API_KEYS.c.name).where(API_KEYS.c.id.in_(keys))
                ).all()
            )
    width = len(query.by)
    for row in rows:
        group = {name: str(value) for name, value in zip(query.by, row[:width], strict=True)}
        currency = str(row[width])
        amounts = Amounts(*(int(value or 0) for value in row[width + 1 :]))
        report.lines.append(Line(group, currency, amounts))
        report.totals.setdefault(currency, Amounts()).add(amounts)
    report.lines.sort(key=lambda line: _sort_key(report, line))
    return report


def _sort_key(report: RangeReport, line: Line) -> tuple[str, ...]:
    """Projects in name order (their ids mean nothing to a reader); the rest by value."""
    values = (
        report.project_names.get(value, value) if name == "project" else value
        for name, value in line.group.items()
    )
    return (*values, line.currency)
