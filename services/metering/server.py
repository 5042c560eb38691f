"""The Metering gRPC service: ingest usage (idempotently), count tokens, report."""

from __future__ import annotations

import json
import logging

import grpc

from services.metering.ledger import Entry, UsageLedger, from_unix_ms
from services.metering.reports import Report, usage_report
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


def report_to_proto(report: Report) -> metering_pb2.UsageReport:
    c = report.currency
    return metering_pb2.UsageReport(
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
        if min(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token counts cannot be negative")
        found = self.ledger.find(request.request_id)
        if found is not None:
            return metering_pb2.RecordUsageResponse(
                cost=_money(found.cost_nano, found.currency), duplicate=True
            )
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
            report = usage_report(self.ledger.engine, request.project_id, request.period or None)
        except LookupError:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such project")
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return report_to_proto(report)
