"""The Budget gRPC service over a ReservationBook, with the operators' admin RPCs mixed in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import grpc

from services.budget import alerts, metrics
from services.budget.admin.rpc import AdminContext
from services.budget.admin.rpc_audit import AuditRpcs
from services.budget.admin.rpc_budgets import BudgetRpcs
from services.budget.admin.rpc_catalogue import CatalogueRpcs
from services.budget.admin.rpc_projects import ProjectRpcs
from services.budget.catalogue import current_catalogue
from services.budget.holds import MAX_BATCH_ID, MAX_HOLD_SECONDS
from services.budget.reference import SettleTerms, parse_fraction
from services.budget.reservations import (
    Authorization,
    AuthorizeCall,
    Decision,
    ReservationBook,
    SettleCall,
    Settlement,
    Usage,
)
from services.budget.status import Line
from tollgate import telemetry
from tollgate.db import read_transaction, utcnow
from tollgate.money import format_amount
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

log = logging.getLogger(__name__)
TRACER = telemetry.tracer(__name__)

_DECISIONS = {
    Decision.ALLOWED: budget_pb2.AuthorizeResponse.ALLOWED,
    Decision.BUDGET_EXCEEDED: budget_pb2.AuthorizeResponse.BUDGET_EXCEEDED,
    Decision.KEY_REVOKED: budget_pb2.AuthorizeResponse.KEY_REVOKED,
    Decision.KEY_PAUSED: budget_pb2.AuthorizeResponse.KEY_PAUSED,
    Decision.KEY_EXPIRED: budget_pb2.AuthorizeResponse.KEY_EXPIRED,
    Decision.MODEL_NOT_PRICED: budget_pb2.AuthorizeResponse.MODEL_NOT_PRICED,
    Decision.DOWNGRADED: budget_pb2.AuthorizeResponse.DOWNGRADED,
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


def _terms(request: budget_pb2.SettleRequest) -> SettleTerms:
    """The fraction and reference of a settlement; ValueError when they are bad."""
    ref = request.reference_usage
    counts = (ref.prompt_tokens, ref.completion_tokens, ref.cached_tokens, ref.cache_write_tokens)
    if min(counts) < 0:
        raise ValueError("reference token counts cannot be negative")
    if len(request.batch_id) > MAX_BATCH_ID:
        raise ValueError(f"batch_id: at most {MAX_BATCH_ID} characters")
    return SettleTerms(
        fraction=parse_fraction(request.cost_fraction),
        reference_model=request.reference_model,
        reference_usage=Usage(*counts),
        batch_id=request.batch_id,
    )


def _authorize_call(request: budget_pb2.AuthorizeRequest) -> AuthorizeCall:
    """The call an AuthorizeRequest asks to reserve; ValueError when it is malformed."""
    if not request.request_id or not request.caller.project_id or not request.model:
        raise ValueError("request_id, caller and model needed")
    if min(request.prompt_tokens_estimate, request.max_completion_tokens, request.choices) < 0:
        raise ValueError("token counts cannot be negative")
    if len(request.batch_id) > MAX_BATCH_ID:
        raise ValueError(f"batch_id: at most {MAX_BATCH_ID} characters")
    if not 0 <= request.hold_seconds <= MAX_HOLD_SECONDS:
        raise ValueError(f"hold_seconds must be 0 to {MAX_HOLD_SECONDS}")
    return AuthorizeCall(
        request.request_id,
        request.caller.project_id,
        request.caller.key_id,
        request.model,
        request.prompt_tokens_estimate,
        request.max_completion_tokens,
        choices=max(request.choices, 1),
        downgrade_model=request.downgrade_model,
        candidates=tuple(request.candidate_models),
        downgrade_candidates=tuple(request.downgrade_candidate_models),
        batch_id=request.batch_id,
        hold_seconds=request.hold_seconds,
    )


def _authorized(result: Authorization) -> budget_pb2.AuthorizeResponse:
    metrics.AUTHORIZATIONS.labels(result.decision.value).inc()
    return budget_pb2.AuthorizeResponse(
        decision=_DECISIONS[result.decision],
        reserved=_money(result.reserved_nano, result.currency),
        message=result.message,
        reuse_ms=result.reuse_ms,
    )


def _failed(code: grpc.StatusCode, message: str) -> budget_pb2.AuthorizeOutcome:
    return budget_pb2.AuthorizeOutcome(code=code.value[0], error=message)


def _outcome(result: Authorization | ValueError | None) -> budget_pb2.AuthorizeOutcome:
    """One call's outcome in a batch: what Authorize alone would answer, or fail with."""
    if result is None:
        return _failed(grpc.StatusCode.INTERNAL, "authorize failed")
    if isinstance(result, ValueError):
        return _failed(grpc.StatusCode.FAILED_PRECONDITION, str(result))
    return budget_pb2.AuthorizeOutcome(response=_authorized(result))


def _settle_call(request: budget_pb2.SettleRequest) -> SettleCall:
    """The settlement a SettleRequest asks for; ValueError when it is malformed."""
    if not request.request_id or not request.caller.project_id:
        raise ValueError("request_id and caller needed")
    usage = request.usage
    counts = (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
    if min(*counts, usage.cache_write_tokens) < 0:
        raise ValueError("token counts cannot be negative")
    started = (
        datetime.fromtimestamp(request.started_at_unix_ms / 1000, UTC)
        if request.started_at_unix_ms
        else datetime.now(UTC)
    )
    return SettleCall(
        request.request_id,
        request.caller.project_id,
        request.caller.key_id,
        request.model,
        Usage(*counts, cache_write_tokens=usage.cache_write_tokens),
        started,
        _terms(request),
    )


def _settlement(result: Settlement) -> budget_pb2.SettleResponse:
    return budget_pb2.SettleResponse(
        cost=_money(result.cost_nano, result.currency),
        already_settled=result.already_settled,
        reference_cost=_money(result.reference_nano, result.currency),
    )


class BudgetServicer(
    ProjectRpcs, BudgetRpcs, CatalogueRpcs, AuditRpcs, budget_pb2_grpc.BudgetServicer
):
    def __init__(self, ledger: ReservationBook, admin: AdminContext | None = None) -> None:
        self.ledger = ledger
        # Without one, operator actions read the zone and alert settings configured.
        self.admin = admin or AdminContext(ledger.engine)

    def Authorize(
        self, request: budget_pb2.AuthorizeRequest, context: grpc.ServicerContext
    ) -> budget_pb2.AuthorizeResponse:
        try:
            call = _authorize_call(request)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        with TRACER.start_as_current_span(
            "budget.authorize",
            context=telemetry.incoming_context(context.invocation_metadata()),
            attributes={"tollgate.request_id": request.request_id},
        ) as span:
            try:
                result = self.ledger.authorize_call(call)
            except ValueError as exc:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            span.set_attribute("tollgate.decision", result.decision.value)
        return _authorized(result)

    def AuthorizeBatch(
        self, request: budget_pb2.AuthorizeBatchRequest, context: grpc.ServicerContext
    ) -> budget_pb2.AuthorizeBatchResponse:
        """Every Authorize of the batch, each as Authorize would answer it alone, in one
        read and one write transaction (ReservationBook.authorize_many). A malformed
        call fails alone (INVALID_ARGUMENT in its outcome). When the batch's
        transaction fails, each call is decided in its own, and one that still fails
        answers INTERNAL (the others are decided)."""
        outcomes: list[budget_pb2.AuthorizeOutcome] = []
        calls: list[tuple[int, AuthorizeCall]] = []
        for index, each in enumerate(request.calls):
            try:
                calls.append((index, _authorize_call(each)))
                outcomes.append(budget_pb2.AuthorizeOutcome())  # decided below
            except ValueError as exc:
                outcomes.append(_failed(grpc.StatusCode.INVALID_ARGUMENT, str(exc)))
        with TRACER.start_as_current_span(
            "budget.authorize_batch",
            context=telemetry.incoming_context(context.invocation_metadata()),
            attributes={"tollgate.calls": len(calls)},
        ):
            decided: list[Authorization | ValueError | None]
            try:
                decided = list(self.ledger.authorize_many([call for _, call in calls]))
            except Exception:
                log.exception("a batch of %d authorizes failed; deciding one by one", len(calls))
                decided = [self._authorize_alone(call) for _, call in calls]
        for (index, _), outcome in zip(calls, decided, strict=True):
            outcomes[index] = _outcome(outcome)
        return budget_pb2.AuthorizeBatchResponse(outcomes=outcomes)

    def _authorize_alone(self, call: AuthorizeCall) -> Authorization | ValueError | None:
        """One call of a failed batch in its own transaction; None when it fails too."""
        try:
            return self.ledger.authorize_many([call])[0]
        except Exception:
            log.exception("authorize of %s failed", call.request_id)
            return None

    def Settle(
        self, request: budget_pb2.SettleRequest, context: grpc.ServicerContext
    ) -> budget_pb2.SettleResponse:
        try:
            call = _settle_call(request)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        with TRACER.start_as_current_span(
            "budget.settle", attributes={"tollgate.request_id": request.request_id}
        ):
            result = self.ledger.settle_many([call])[0]
        return _settlement(result)

    def SettleBatch(
        self, request: budget_pb2.SettleBatchRequest, context: grpc.ServicerContext
    ) -> budget_pb2.SettleBatchResponse:
        """Every Settle of the batch in one transaction; INVALID_ARGUMENT (nothing
        settled) when one of them is malformed. When the batch's transaction fails,
        each is settled on its own, so one that cannot settle keeps none of the others
        from settling; if any still fails, INTERNAL names them (the others are settled,
        and answer already_settled with their cost when sent again)."""
        calls = []
        for index, settle in enumerate(request.settles):
            try:
                calls.append(_settle_call(settle))
            except ValueError as exc:
                message = f"settles[{index}] ({settle.request_id!r}): {exc}"
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        with TRACER.start_as_current_span(
            "budget.settle_batch", attributes={"tollgate.settles": len(calls)}
        ):
            try:
                results = self.ledger.settle_many(calls)
            except Exception:
                log.exception("a batch of %d settles failed; settling one by one", len(calls))
                results, failed = self._settle_each(calls)
                if failed:
                    message = f"settle failed for {', '.join(failed)}; the others are settled"
                    context.abort(grpc.StatusCode.INTERNAL, message)
        return budget_pb2.SettleBatchResponse(results=[_settlement(r) for r in results])

    def _settle_each(self, calls: list[SettleCall]) -> tuple[list[Settlement], list[str]]:
        """Each call settled in its own transaction; the request ids that failed."""
        results, failed = [], []
        for call in calls:
            try:
                results.extend(self.ledger.settle_many([call]))
            except Exception:
                log.exception("settle of %s failed", call.request_id)
                failed.append(call.request_id)
        return results, failed

    def Release(
        self, request: budget_pb2.ReleaseRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ReleaseResponse:
        return budget_pb2.ReleaseResponse(released=self.ledger.release(request.request_id))

    def RecordOperatorAlert(
        self, request: budget_pb2.OperatorAlertRequest, context: grpc.ServicerContext
    ) -> budget_pb2.OperatorAlertResponse:
        if not request.subject or not request.message:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "subject and message needed")
        with self.ledger.engine.begin() as conn:
            recorded = alerts.record_operator_alert(
                conn, request.subject, request.project_id, request.message, utcnow()
            )
        return budget_pb2.OperatorAlertResponse(recorded=recorded)

    def GetPrices(
        self, request: budget_pb2.GetPricesRequest, context: grpc.ServicerContext
    ) -> budget_pb2.GetPricesResponse:
        wanted = set(request.models)
        with read_transaction(self.ledger.engine) as conn:
            now = current_catalogue(conn).current(utcnow())
            prices = [p for p in now if not wanted or p.model in wanted]
        return budget_pb2.GetPricesResponse(
            prices=[
                budget_pb2.ModelPrice(
                    model=p.model,
                    currency=p.currency,
                    input=format_amount(p.input_nano),
                    output=format_amount(p.output_nano),
                    cached_input=format_amount(p.cached_input_nano),
                    cache_write_input=format_amount(p.cache_write_nano),
                )
                for p in prices
            ],
            usd_to_cny=str(self.ledger.usd_to_cny),
        )

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
