"""The Metering contract's report messages as the JSON that HTTP clients get (used by
the gateway, which reads reports over gRPC). Amounts stay exact decimal strings."""

from __future__ import annotations

from typing import Any

from tollgate.v1 import metering_pb2

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


def usage_forecast(report: metering_pb2.UsageReport) -> dict[str, Any] | None:
    """GET /v1/usage's "forecast": this month's, or null for another month."""
    return forecast_json(report.forecast) if report.HasField("forecast") else None


def range_report_json(reply: metering_pb2.ReportResponse) -> dict[str, Any]:
    def amounts(item: metering_pb2.ReportLine | metering_pb2.ReportTotal) -> dict[str, Any]:
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
