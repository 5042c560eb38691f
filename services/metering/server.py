"""The Metering gRPC service: ingest usage (idempotently), count tokens, report."""

from __future__ import annotations

import json
import logging

import grpc

from services.metering.breakdown import (
    Amounts,
    ReportQuery,
    default_dimensions,
    parse_dimensions,
    range_report,
)
from services.metering.days import day_range
from services.metering.forecast import Forecast, project_forecast
from services.metering.ledger import Entry, UsageLedger, from_unix_ms
from services.metering.reports import Report, forecast_for, usage_report
from tollgate import tokens
from tollgate.money import format_amount, to_nano
from tollgate.v1 import (
    budget_pb2,
    budget_pb2_grpc,
    common_pb2,
    metering_pb2,
    metering_pb2_grpc,
)

log = logging.getLogger(__name__)

_STATUS = {
    metering_pb2.CALL_STATUS_OK: "ok",
    metering_pb2.CALL_STATUS_FAILED: "failed",
    metering_pb2.CALL_STATUS_PARTIAL: "partial",
}
_SOURCE = {
    common_pb2.USAGE_SOURCE_PROVIDER: "provider",
    common_pb2.USAGE_SOURCE_ESTIMATED: "estimated",
}
SETTLE_TIMEOUT_SECONDS = 10.0


def _money(nano: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=format_amount(nano), currency=currency)


def forecast_to_proto(forecast: Forecast) -> metering_pb2.Forecast:
    c = forecast.currency
    return metering_pb2.Forecast(
        month=forecast.month,
        as_of=forecast.today.isoformat(),
        spent=_money(forecast.spent_nano, c),
        daily_average=_money(forecast.daily_average_nano, c),
        window_from=forecast.window_first.isoformat() if forecast.window_first else "",
        window_to=forecast.window_last.isoformat() if forecast.window_last else "",
        window_days=forecast.window_days,
        days_left=forecast.days_left,
        forecast=_money(forecast.forecast_nano, c),
    )


def _set_amounts(
    message: metering_pb2.ReportLine | metering_pb2.ReportTotal, amounts: Amounts, currency: str
) -> None:
    message.total.CopyFrom(_money(amounts.cost_nano, currency))
    message.requests = amounts.requests
    message.input_tokens = amounts.prompt_tokens
    message.output_tokens = amounts.completion_tokens
    message.cached_tokens = amounts.cached_tokens
    message.reasoning_tokens = amounts.reasoning_tokens
    message.cache_write_tokens = amounts.cache_write_tokens


_LINE_FIELDS = {"project": "project_id", "key": "key_id", "user": "end_user"}


def report_to_proto(report: Report, forecast: Forecast | None = None) -> metering_pb2.UsageReport:
    c = report.currency
    return metering_pb2.UsageReport(
        forecast=forecast_to_proto(forecast) if forecast else None,
        project_id=report.project_id,
        period=report.period,
        total=_money(report.total_nano, c),
        requests=report.requests,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        cached_tokens=report.cached_tokens,
        by_model=[
            metering_pb2.ModelUsage(
                model=line.model,
                total=_money(line.total_nano, c),
                requests=line.requests,
                input_tokens=line.input_tokens,
                output_tokens=line.output_tokens,
                cached_tokens=line.cached_tokens,
            )
            for line in report.by_model
        ],
    )


class MeteringServicer(metering_pb2_grpc.MeteringServicer):
    def __init__(self, ledger: UsageLedger, budget: budget_pb2_grpc.BudgetStub) -> None:
        self.ledger = ledger
        self.budget = budget

    def RecordUsage(
        self, request: metering_pb2.UsageRecord, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageResponse:
        if not request.request_id or not request.caller.project_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id and caller needed")
        if request.status not in _STATUS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "status must be set")
        status = _STATUS[request.status]
        usage = request.usage
        counts = (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        if min(*counts, usage.cache_write_tokens) < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token counts cannot be negative")
        # No look-up first: a repeated delivery (rare) settles again, which Budget answers
        # with the first settlement's cost, and the ledger keeps its first row; a look-up
        # would cost every first delivery a transaction more.
        # A failed call costs nothing: settle it at zero, which frees its reservation.
        billed = usage if status != "failed" else common_pb2.Usage()
        try:
            settled = self.budget.Settle(
                budget_pb2.SettleRequest(
                    request_id=request.request_id,
                    caller=request.caller,
                    model=request.model_served,
                    usage=billed,
                    started_at_unix_ms=request.started_at_unix_ms,
                ),
                timeout=SETTLE_TIMEOUT_SECONDS,
            )
        except grpc.RpcError as exc:
            # The sender keeps the record and retries; nothing is written here.
            log.warning("settle of %s failed: %s", request.request_id, exc.code())
            context.abort(grpc.StatusCode.UNAVAILABLE, "budget service unavailable")
        recorded = self.ledger.add(
            Entry(
                request_id=request.request_id,
                project_id=request.caller.project_id,
                key_id=request.caller.key_id,
                end_user=request.caller.end_user[:200],
                model_requested=request.model_requested,
                model_served=request.model_served,
                provider=request.provider,
                prompt_tokens=billed.prompt_tokens,
                completion_tokens=billed.completion_tokens,
                cached_tokens=billed.cached_tokens,
                reasoning_tokens=billed.reasoning_tokens,
                cache_write_tokens=billed.cache_write_tokens,
                usage_source=_SOURCE.get(request.usage_source, "estimated"),
                cost_nano=to_nano(settled.cost.amount),
                currency=settled.cost.currency,
                status=status,
                http_status=request.http_status or 200,
                stream=request.stream,
                latency_ms=max(int(request.latency_ms), 0),
                started_at=from_unix_ms(request.started_at_unix_ms),
            )
        )
        return metering_pb2.RecordUsageResponse(
            cost=_money(recorded.cost_nano, recorded.currency), duplicate=recorded.duplicate
        )

    def CountTokens(
        self, request: metering_pb2.CountTokensRequest, context: grpc.ServicerContext
    ) -> metering_pb2.CountTokensResponse:
        try:
            body = json.loads(request.body)
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages must be a list")
        except (ValueError, KeyError, TypeError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"body: {exc}")
        model = request.model or str(body.get("model", ""))
        return metering_pb2.CountTokensResponse(
            prompt_tokens=tokens.count_chat_prompt(messages, model, body.get("tools")),
            encoding=tokens.encoding_name_for_model(model),
        )

    def GetUsageReport(
        self, request: metering_pb2.UsageReportRequest, context: grpc.ServicerContext
    ) -> metering_pb2.UsageReport:
        try:
            engine = self.ledger.engine
            report = usage_report(engine, request.project_id, request.period or None)
            forecast = forecast_for(engine, report)
        except LookupError:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such project")
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return report_to_proto(report, forecast)

    def GetReport(
        self, request: metering_pb2.ReportRequest, context: grpc.ServicerContext
    ) -> metering_pb2.ReportResponse:
        engine = self.ledger.engine
        try:
            first, last = day_range(request.from_day or None, request.to_day or None)
            project_id = request.project_id or None
            by = parse_dimensions(request.group_by) or default_dimensions(project_id)
            forecast = project_forecast(engine, project_id) if project_id else None
            report = range_report(engine, ReportQuery(first, last, by, project_id))
        except LookupError:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such project")
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        reply = metering_pb2.ReportResponse(
            from_day=first.isoformat(), to_day=last.isoformat(), group_by=list(by)
        )
        for line in report.lines:
            shown = reply.lines.add()
            for name, value in line.group.items():
                setattr(shown, _LINE_FIELDS.get(name, name), value)
            if "project" in line.group:
                shown.project = report.project_names.get(line.group["project"], "")
            _set_amounts(shown, line.amounts, line.currency)
        for currency, amounts in sorted(report.totals.items()):
            _set_amounts(reply.totals.add(), amounts, currency)
        if forecast:
            reply.forecast.CopyFrom(forecast_to_proto(forecast))
        return reply
