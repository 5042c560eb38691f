"""The Budget gRPC service over a Ledger."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import grpc

from services.budget.reservations import Authorization, Decision, Ledger, Usage
from services.budget.status import Line
from tollgate import telemetry
from tollgate.money import format_amount
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

log = logging.getLogger(__name__)
TRACER = telemetry.tracer(__name__)

_DECISIONS = {
    Decision.ALLOWED: budget_pb2.AuthorizeResponse.ALLOWED,
    Decision.BUDGET_EXCEEDED: budget_pb2.AuthorizeResponse.BUDGET_EXCEEDED,
    Decision.KEY_REVOKED: budget_pb2.AuthorizeResponse.KEY_REVOKED,
    Decision.KEY_PAUSED: budget_pb2.AuthorizeResponse.KEY_PAUSED,
    Decision.MODEL_NOT_PRICED: budget_pb2.AuthorizeResponse.MODEL_NOT_PRICED,
}


def _money(nano: int | None, currency: str) -> common_pb2.Money:
    if nano is None:
        return common_pb2.Money(amount="", currency=currency)
    return common_pb2.Money(amount=format_amount(nano), currency=currency)


def _line(line: Line, currency: str) -> budget_pb2.BudgetLine:
    rule = line.rule
    return budget_pb2.BudgetLine(
        budget_id=rule.id,
        owner=rule.owner,
        key_id=rule.key_id or "",
        key_name=line.key_name,
        period=rule.period,
        period_key=line.period_key,
        hard=rule.hard,
        limit=_money(rule.amount_nano, currency),
        spent=_money(line.committed_nano, currency),
        reserved=_money(line.reserved_nano, currency),
        remaining=_money(line.remaining_nano, currency),
        resets_at=line.resets_at.isoformat() if line.resets_at else "",
        alert_at=rule.alert_at,
    )


class BudgetServicer(budget_pb2_grpc.BudgetServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def Authorize(
        self, request: budget_pb2.AuthorizeRequest, context: grpc.ServicerContext
    ) -> budget_pb2.AuthorizeResponse:
        if not request.request_id or not request.caller.project_id or not request.model:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id, caller and model needed")
        if min(request.prompt_tokens_estimate, request.max_completion_tokens, request.choices) < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token counts cannot be negative")
        with TRACER.start_as_current_span(
            "budget.authorize",
            context=telemetry.incoming_context(context.invocation_metadata()),
            attributes={"tollgate.request_id": request.request_id},
        ) as span:
            try:
                result = self._authorize(request)
            except ValueError as exc:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            span.set_attribute("tollgate.decision", result.decision.value)
        return budget_pb2.AuthorizeResponse(
            decision=_DECISIONS[result.decision],
            reserved=_money(result.reserved_nano, result.currency),
            message=result.message,
        )

    def _authorize(self, request: budget_pb2.AuthorizeRequest) -> Authorization:
        return self.ledger.authorize(
            request.request_id,
            request.caller.project_id,
            request.caller.key_id,
            request.model,
            request.prompt_tokens_estimate,
            request.max_completion_tokens,
            choices=max(request.choices, 1),
        )

    def Settle(
        self, request: budget_pb2.SettleRequest, context: grpc.ServicerContext
    ) -> budget_pb2.SettleResponse:
        if not request.request_id or not request.caller.project_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id and caller needed")
        usage = request.usage
        counts = (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        if min(*counts, usage.cache_write_tokens) < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token counts cannot be negative")
        started = (
            datetime.fromtimestamp(request.started_at_unix_ms / 1000, UTC)
            if request.started_at_unix_ms
            else datetime.now(UTC)
        )
        result = self.ledger.settle(
            request.request_id,
            request.caller.project_id,
            request.caller.key_id,
            request.model,
            Usage(*counts, cache_write_tokens=usage.cache_write_tokens),
            started,
        )
        return budget_pb2.SettleResponse(
            cost=_money(result.cost_nano, result.currency), already_settled=result.already_settled
        )

    def Release(
        self, request: budget_pb2.ReleaseRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ReleaseResponse:
        return budget_pb2.ReleaseResponse(released=self.ledger.release(request.request_id))

    def GetBudgetStatus(
        self, request: budget_pb2.GetBudgetStatusRequest, context: grpc.ServicerContext
    ) -> budget_pb2.BudgetStatus:
        try:
            status = self.ledger.status(request.project_id)
        except LookupError:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such project")
        spent = status.committed_nano
        remaining = None
        if status.limit_nano is not None:
            remaining = max(status.limit_nano - spent - status.reserved_nano, 0)
        return budget_pb2.BudgetStatus(
            project_id=status.project_id,
            period=status.period,
            limit=_money(status.limit_nano, status.currency),
            spent=_money(spent, status.currency),
            reserved=_money(status.reserved_nano, status.currency),
            remaining=_money(remaining, status.currency),
            budgets=[_line(line, status.currency) for line in status.lines],
            timezone=str(self.ledger.zone),
        )
