"""Metering's and Budget's replies as the JSON of GET /v1/usage. Amounts stay exact
decimal strings, as the contracts carry them."""

from __future__ import annotations

from typing import Any

from tollgate.reports.budget_use import percent_used
from tollgate.reports.usage import forecast_json
from tollgate.v1 import budget_pb2, metering_pb2

JSON = dict[str, Any]

_GROUP_FIELDS = {
    "project": ("project_id", "project"),
    "key": ("key_id",),
    "model": ("model",),
    "user": ("end_user",),
    "day": ("day",),
}
_COUNTS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
)


def range_report_json(reply: metering_pb2.ReportResponse) -> JSON:
    """GET /v1/usage?from=&to=&by=: the report's lines and totals by the groups asked."""

    def amounts(item: metering_pb2.ReportLine | metering_pb2.ReportTotal) -> JSON:
        return {
            "currency": item.total.currency,
            "total": item.total.amount,
            **{name: getattr(item, name) for name in _COUNTS},
        }

    columns = [column for name in reply.group_by for column in _GROUP_FIELDS[name]]
    return {
        "object": "usage.report",
        "from": reply.from_day,
        "to": reply.to_day,
        "by": list(reply.group_by),
        "lines": [
            {**{c: getattr(line, c) for c in columns}, **amounts(line)} for line in reply.lines
        ],
        "totals": [amounts(total) for total in reply.totals],
        "forecast": forecast_json(reply.forecast) if reply.HasField("forecast") else None,
    }


def _budget_line_json(line: budget_pb2.BudgetLine) -> JSON:
    return {
        "owner": line.owner,
        "key_id": line.key_id or None,
        "key_name": line.key_name or None,
        "period": line.period,
        "period_key": line.period_key,
        "hard": line.hard,
        "limit": line.limit.amount,
        "spent": line.spent.amount,
        "reserved": line.reserved.amount,
        "remaining": line.remaining.amount,
        "percent_used": percent_used(line.spent.amount, line.limit.amount),
        "resets_at": line.resets_at or None,
        "alert_at": list(line.alert_at),
    }


def budget_status_json(status: budget_pb2.BudgetStatus) -> JSON:
    return {
        "period": status.period,
        "limit": status.limit.amount or None,
        "spent": status.spent.amount,
        "reserved": status.reserved.amount,
        "remaining": status.remaining.amount or None,
        "percent_used": percent_used(status.spent.amount, status.limit.amount),
        "timezone": status.timezone,
        "budgets": [_budget_line_json(line) for line in status.budgets],
    }


def usage_json(
    report: metering_pb2.UsageReport,
    status: budget_pb2.BudgetStatus,
    *,
    project: str,
    currency: str,
) -> JSON:
    """GET /v1/usage: a project's month (spend, budgets, by model, forecast); the
    forecast is null for a month other than this one."""
    return {
        "object": "usage",
        "project": project,
        "period": report.period,
        "currency": currency,
        "total": report.total.amount,
        "requests": report.requests,
        "input_tokens": report.input_tokens,
        "output_tokens": report.output_tokens,
        "cached_tokens": report.cached_tokens,
        "budget": budget_status_json(status),
        "by_model": [
            {
                "model": line.model,
                "total": line.total.amount,
                "requests": line.requests,
                "input_tokens": line.input_tokens,
                "output_tokens": line.output_tokens,
                "cached_tokens": line.cached_tokens,
            }
            for line in report.by_model
        ],
        "forecast": forecast_json(report.forecast) if report.HasField("forecast") else None,
    }
