"""The Metering gRPC service: ingest usage (idempotently, see ingest.py), count
tokens, report, and show the dead-letter table; the operators' RPCs (bills, reports,
allocation, savings, what-if, per-call exports) are operator.py's functions; the
dashboard's hourly spend and latest calls are hourly.py's and recent.py's."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import grpc

from services.metering import metrics, operator
from services.metering.callers import CallerCheck
from services.metering.deadletters import DeadLetters
from services.metering.hourly import hourly_spend
from services.metering.ingest import Ingest, Refused
from services.metering.ledger import Recorded, UsageLedger
from services.metering.recent import recent_calls
from services.metering.refusals import answer, stream
from services.metering.report_messages import money, report_to_proto
from services.metering.reports import forecast_for, usage_report
from tollgate import telemetry, tokens
from tollgate.db import as_utc
from tollgate.observability import logs
from tollgate.v1 import budget_pb2_grpc, metering_pb2, metering_pb2_grpc

log = logging.getLogger(__name__)
TRACER = telemetry.tracer(__name__)


def _recorded(
    record: metering_pb2.UsageRecord, recorded: Recorded
) -> metering_pb2.RecordUsageResponse:
    """Count a new row in the metrics and the ledger log; the answer for its record."""
    if not recorded.duplicate:
        metrics.ledger_row(record, recorded.cost_nano, recorded.currency)
        metrics.log_row(record, recorded.cost_nano, recorded.currency)
    return metering_pb2.RecordUsageResponse(
        cost=money(recorded.cost_nano, recorded.currency), duplicate=recorded.duplicate
    )


class MeteringServicer(metering_pb2_grpc.MeteringServicer):
    def __init__(self, ledger: UsageLedger, budget: budget_pb2_grpc.BudgetStub) -> None:
        self.ledger = ledger
        self.budget = budget
        engine = ledger.engine
        self.ingest = Ingest(ledger, budget, CallerCheck(engine), DeadLetters(engine))

    def RecordUsage(
        self, request: metering_pb2.UsageRecord, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageResponse:
        with TRACER.start_as_current_span(
            "metering.record_usage", attributes={"tollgate.request_id": request.request_id}
        ) as span:
            try:
                recorded = self.ingest.record(request)
            except Refused as refused:
                span.set_attribute("tollgate.refused", refused.code.name)
                context.abort(refused.code, refused.message)
            span.set_attribute("tollgate.duplicate", recorded.duplicate)
        return _recorded(request, recorded)

    def RecordUsageBatch(
        self, request: metering_pb2.UsageBatch, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageBatchResponse:
        records = request.records
        with TRACER.start_as_current_span(
            "metering.record_usage_batch", attributes={"tollgate.records": len(records)}
        ):
            try:
                outcomes = self.ingest.record_batch(records)
            except Refused as refused:  # Budget out of reach: nothing was written
                context.abort(refused.code, refused.message)
        results = []
        for record, outcome in zip(records, outcomes, strict=True):
            result = metering_pb2.RecordUsageBatchResult(request_id=record.request_id)
            if isinstance(outcome, Refused):
                result.refused = outcome.message or outcome.code.name
            elif outcome is not None:  # None: not written now; the sender sends it again
                # The ledger line carries its own call's id, as RecordUsage's does.
                token = logs.bind(record)
                try:
                    result.recorded.CopyFrom(_recorded(record, outcome))
                finally:
                    logs.unbind(token)
            results.append(result)
        return metering_pb2.RecordUsageBatchResponse(results=results)

    def GetDeadLetters(
        self, request: metering_pb2.DeadLettersRequest, context: grpc.ServicerContext
    ) -> metering_pb2.DeadLettersResponse:
        letters = self.ingest.dead_letters
        return metering_pb2.DeadLettersResponse(
            count=letters.count(),
            latest=[
                metering_pb2.DeadLetter(
                    request_id=letter.request_id,
                    project_id=letter.project_id,
                    error=letter.error,
                    created_at_unix_ms=int(as_utc(letter.created_at).timestamp() * 1000),
                )
                for letter in letters.latest(min(max(request.limit, 0), 100))
            ],
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
        return answer(context, lambda: operator.report(self.ledger.engine, request))

    def GetSavings(
        self, request: metering_pb2.SavingsRequest, context: grpc.ServicerContext
    ) -> metering_pb2.SavingsResponse:
        return answer(context, lambda: operator.savings(self.ledger.engine, request))

    def GetWhatIf(
        self, request: metering_pb2.WhatIfRequest, context: grpc.ServicerContext
    ) -> metering_pb2.WhatIfResponse:
        return answer(context, lambda: operator.whatif(self.ledger.engine, self.budget, request))

    def GetBill(
        self, request: metering_pb2.BillRequest, context: grpc.ServicerContext
    ) -> metering_pb2.UsageReport:
        return answer(context, lambda: operator.bill(self.ledger.engine, request))

    def Allocate(
        self, request: metering_pb2.AllocateRequest, context: grpc.ServicerContext
    ) -> metering_pb2.AllocateResponse:
        return answer(context, lambda: operator.allocation(self.ledger.engine, request))

    def ExportCalls(
        self, request: metering_pb2.ExportCallsRequest, context: grpc.ServicerContext
    ) -> Iterator[metering_pb2.CallsPage]:
        return stream(context, lambda: operator.export_calls(self.ledger.engine, request))

    def GetHourlySpend(
        self, request: metering_pb2.HourlySpendRequest, context: grpc.ServicerContext
    ) -> metering_pb2.HourlySpendResponse:
        return answer(context, lambda: hourly_spend(self.ledger.engine, request))

    def ListRecentCalls(
        self, request: metering_pb2.RecentCallsRequest, context: grpc.ServicerContext
    ) -> metering_pb2.CallsPage:
        return answer(context, lambda: recent_calls(self.ledger.engine, request))
