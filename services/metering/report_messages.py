"""Bills and range reports as the Metering contract's messages, from the report
dataclasses. Amounts stay exact decimal strings."""

from __future__ import annotations

from services.metering.breakdown import Amounts, RangeReport
from services.metering.forecast import Forecast
from services.metering.reports import Report
from tollgate.money import format_amount
from tollgate.v1 import common_pb2, metering_pb2


def money(nano: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=format_amount(nano), currency=currency)


def forecast_to_proto(forecast: Forecast) -> metering_pb2.Forecast:
    c = forecast.currency
    return metering_pb2.Forecast(
        month=forecast.month,
        as_of=forecast.today.isoformat(),
        spent=money(forecast.spent_nano, c),
        daily_average=money(forecast.daily_average_nano, c),
        window_from=forecast.window_first.isoformat() if forecast.window_first else "",
        window_to=forecast.window_last.isoformat() if forecast.window_last else "",
        window_days=forecast.window_days,
        days_left=forecast.days_left,
        forecast=money(forecast.forecast_nano, c),
    )


def report_to_proto(report: Report, forecast: Forecast | None = None) -> metering_pb2.UsageReport:
    c = report.currency
    return metering_pb2.UsageReport(
        forecast=forecast_to_proto(forecast) if forecast else None,
        project_id=report.project_id,
        period=report.period,
        total=money(report.total_nano, c),
        requests=report.requests,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        cached_tokens=report.cached_tokens,
        by_model=[
            metering_pb2.ModelUsage(
                model=line.model,
                total=money(line.total_nano, c),
                requests=line.requests,
                input_tokens=line.input_tokens,
                output_tokens=line.output_tokens,
                cached_tokens=line.cached_tokens,
            )
            for line in report.by_model
        ],
    )


def bill_to_proto(report: Report, forecast: Forecast | None) -> metering_pb2.UsageReport:
    """The usage report with what a bill adds: the project's name and currency, the
    month's cache hits and what was saved."""
    reply = report_to_proto(report, forecast)
    reply.project = report.project
    reply.currency = report.currency
    reply.cache_hits = report.cache_hits
    reply.saved.CopyFrom(money(report.saved_nano, report.currency))
    return reply


def _set_amounts(
    message: metering_pb2.ReportLine | metering_pb2.ReportTotal, amounts: Amounts, currency: str
) -> None:
    message.total.CopyFrom(money(amounts.cost_nano, currency))
    message.requests = amounts.requests
    message.failed_requests = amounts.failed_requests
    message.input_tokens = amounts.prompt_tokens
    message.output_tokens = amounts.completion_tokens
    message.cached_tokens = amounts.cached_tokens
    message.reasoning_tokens = amounts.reasoning_tokens
    message.cache_write_tokens = amounts.cache_write_tokens


_LINE_FIELDS = {"project": "project_id", "key": "key_id", "user": "end_user"}


def range_to_proto(
    report: RangeReport, forecast: Forecast | None = None
) -> metering_pb2.ReportResponse:
    query = report.query
    reply = metering_pb2.ReportResponse(
        from_day=query.first.isoformat(),
        to_day=query.last.isoformat(),
        group_by=list(query.by),
        project_id=query.project_id or "",
        project=report.project_names.get(query.project_id or "", ""),
    )
    for line in report.lines:
        shown = reply.lines.add()
        for name, value in line.group.items():
            setattr(shown, _LINE_FIELDS.get(name, name), value)
        if "project" in line.group:
            shown.project = report.project_names.get(line.group["project"], "")
        if "key" in line.group:
            shown.key_name = report.key_names.get(line.group["key"], "")
        _set_amounts(shown, line.amounts, line.currency)
    for currency, amounts in sorted(report.totals.items()):
        _set_amounts(reply.totals.add(), amounts, currency)
    if forecast:
        reply.forecast.CopyFrom(forecast_to_proto(forecast))
    return reply
