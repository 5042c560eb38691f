"""Bills and range reports: Metering's UsageReport and ReportResponse as JSON and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from tollgate.v1 import metering_pb2

# A range report's amount columns, in their order, after the group and currency columns.
AMOUNTS = (
    "total",
    "requests",
    "failed_requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
)
# Each dimension's columns.
GROUP_COLUMNS = {
    "project": ("project_id", "project"),
    "key": ("key_id", "key_name"),
    "model": ("model",),
    "user": ("end_user",),
    "day": ("day",),
}


def forecast_json(forecast: metering_pb2.Forecast) -> dict[str, Any]:
    return {
        "month": forecast.month,
        "as_of": forecast.as_of,
        "currency": forecast.forecast.currency,
        "spent": forecast.spent.amount,
        "daily_average": forecast.daily_average.amount,
        "window": {
            "from": forecast.window_from or None,
            "to": forecast.window_to or None,
            "days": forecast.window_days,
        },
        "days_left": forecast.days_left,
        "forecast": forecast.forecast.amount,
    }


def bill_json(bill: metering_pb2.UsageReport) -> dict[str, Any]:
    """A GetBill answer as the bill's JSON; the forecast is null for another month."""
    return {
        "project": bill.project,
        "project_id": bill.project_id,
        "period": bill.period,
        "currency": bill.currency,
        "total": bill.total.amount,
        "requests": bill.requests,
        "input_tokens": bill.input_tokens,
        "output_tokens": bill.output_tokens,
        "cached_tokens": bill.cached_tokens,
        "cache_hits": bill.cache_hits,
        "saved": bill.saved.amount,
        "by_model": [
            {
                "model": line.model,
                "total": line.total.amount,
                "requests": line.requests,
                "input_tokens": line.input_tokens,
                "output_tokens": line.output_tokens,
                "cached_tokens": line.cached_tokens,
            }
            for line in bill.by_model
        ],
        "forecast": forecast_json(bill.forecast) if bill.HasField("forecast") else None,
    }


def group_columns(by: Iterable[str]) -> list[str]:
    return [column for name in by for column in GROUP_COLUMNS[name]]


def _amounts(item: metering_pb2.ReportLine | metering_pb2.ReportTotal) -> dict[str, Any]:
    shown: dict[str, Any] = {"currency": item.total.currency, "total": item.total.amount}
    return shown | {name: getattr(item, name) for name in AMOUNTS[1:]}


def report_json(reply: metering_pb2.ReportResponse) -> dict[str, Any]:
    """A GetReport answer as operators read it: lines with their dimensions' columns
    (ids with names beside them), totals per currency, and a project's forecast."""
    columns = group_columns(reply.group_by)
    return {
        "object": "report",
        "from": reply.from_day,
        "to": reply.to_day,
        "by": list(reply.group_by),
        "project_id": reply.project_id or None,
        "project": reply.project or None,
        "lines": [
            {column: getattr(line, column) for column in columns} | _amounts(line)
            for line in reply.lines
        ],
        "totals": [_amounts(total) for total in reply.totals],
        "forecast": forecast_json(reply.forecast) if reply.HasField("forecast") else None,
    }


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def report_csv(reply: metering_pb2.ReportResponse) -> str:
    """A header row and one row per line; amounts exact, with a currency column."""
    header = [*group_columns(reply.group_by), "currency", *AMOUNTS]
    lines = report_json(reply)["lines"]
    return csv_text(header, ([line[name] for name in header] for line in lines))
