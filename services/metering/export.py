"""Reports as JSON and as CSV for finance: exact decimal strings, never floats."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from services.metering.allocation import MINOR_UNIT_DIGITS, Allocation
from services.metering.breakdown import (
    Amounts,
    Line,
    RangeReport,
    ReportQuery,
    default_dimensions,
    parse_dimensions,
    range_report,
)
from services.metering.days import day_range
from services.metering.forecast import forecast_json, project_forecast
from tollgate import admin
from tollgate.money import format_amount


def amounts_json(amounts: Amounts) -> dict[str, Any]:
    return {
        "total": format_amount(amounts.cost_nano),
        "requests": amounts.requests,
        "failed_requests": amounts.failed_requests,
        "input_tokens": amounts.prompt_tokens,
        "output_tokens": amounts.completion_tokens,
        "cached_tokens": amounts.cached_tokens,
        "reasoning_tokens": amounts.reasoning_tokens,
        "cache_write_tokens": amounts.cache_write_tokens,
    }


def group_json(report: RangeReport, line: Line) -> dict[str, str]:
    """A line's dimensions as named columns (ids with their names beside them)."""
    out: dict[str, str] = {}
    for name in report.query.by:
        value = line.group[name]
        if name == "project":
            out["project_id"] = value
            out["project"] = report.project_names.get(value, "")
        elif name == "key":
            out["key_id"] = value
            out["key_name"] = report.key_names.get(value, "")
        elif name == "user":
            out["end_user"] = value
        else:
            out[name] = value
    return out


def report_json(report: RangeReport) -> dict[str, Any]:
    query = report.query
    return {
        "object": "report",
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "by": list(query.by),
        "project_id": query.project_id,
        "project": report.project_names.get(query.project_id or "") or None,
        "lines": [
            {**group_json(report, line), "currency": line.currency, **amounts_json(line.amounts)}
            for line in report.lines
        ],
        "totals": [
            {"currency": currency, **amounts_json(amounts)}
            for currency, amounts in sorted(report.totals.items())
        ],
    }


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def report_csv(report: RangeReport) -> str:
    """A header row and one row per line; amounts exact, with a currency column."""
    header = [*group_columns(report.query.by), "currency", *amounts_json(Amounts())]
    lines = report_json(report)["lines"]
    return _csv(header, [[line[name] for name in header] for line in lines])


def group_columns(by: tuple[str, ...]) -> list[str]:
    """The columns group_json makes for these dimensions, in its order."""
    columns = {"project": ["project_id", "project"], "key": ["key_id", "key_name"]}
    columns["user"] = ["end_user"]
    return [column for name in by for column in columns.get(name, [name])]


def _fixed(value: Decimal, currency: str) -> str:
    """An amount with exactly the currency's minor-unit digits: "1234.50"."""
    return f"{value:.{MINOR_UNIT_DIGITS[currency]}f}"


def allocation_json(allocation: Allocation) -> dict[str, Any]:
    return {
        "object": "allocation",
        "total": _fixed(allocation.total, allocation.currency),
        "currency": allocation.currency,
        "from": allocation.first.isoformat(),
        "to": allocation.last.isoformat(),
        "shares": [
            {
                "project": share.project,
                "metered": format_amount(share.metered_nano),
                "metered_currency": share.metered_currency,
                "share": _fixed(share.share, allocation.currency),
                "currency": allocation.currency,
            }
            for share in allocation.shares
        ],
    }


def allocation_csv(allocation: Allocation) -> str:
    shares = allocation_json(allocation)["shares"]
    header = ["project", "metered", "metered_currency", "share", "currency"]
    return _csv(header, [[share[name] for name in header] for share in shares])


def operator_report(
    engine: Engine,
    *,
    project: str | None,
    first: str | None,
    last: str | None,
    by: str,
    as_csv: bool = False,
) -> dict[str, Any] | str:
    """The report an operator asks for by project name, days and dimensions, as JSON
    (with the project's forecast) or as CSV; shared by the CLI and the admin API.
    Bad input raises ValueError (admin.NotFound for an unknown project)."""
    start, end = day_range(first, last)
    dimensions = parse_dimensions(by)
    project_id = admin.get_project(engine, project).id if project else None
    query = ReportQuery(start, end, dimensions or default_dimensions(project_id), project_id)
    report = range_report(engine, query)
    if as_csv:
        return report_csv(report)
    forecast = project_forecast(engine, project_id) if project_id else None
    return {**report_json(report), "forecast": forecast_json(forecast) if forecast else None}
