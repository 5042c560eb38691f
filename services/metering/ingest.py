"""Usage ingest: one record in, one ledger row out, priced and settled through Budget.

What a record can meet, and what the sender (the router's spool) is told:
- malformed (no id, no status, negative or absurd counts): INVALID_ARGUMENT, permanent;
- an unknown project, or a key of another project: FAILED_PRECONDITION, permanent;
  nothing is settled or written, so a forged record charges nobody;
- Budget unreachable: UNAVAILABLE, and the sender retries; nothing is written;
- fields the ledger cannot store as they came: the record is kept in the dead-letter
  table, an operator is alerted once, and the call is billed with those fields made
  safe (see safety.py). It never blocks delivery, and it is never retried for ever.

Ingest is idempotent by request id: Budget answers a repeated settlement with the
first one's cost and the ledger keeps its first row, so a final record and the
orphan record of an interrupted call (the same id) never both count.

A record is settled before its ledger row is written, so a crash between the two
leaves a record the sender still holds: sent again, Budget answers the first
settlement, and the row is written once. `record_batch` keeps that order for a whole
batch: each record checked as `record` checks it (a refusal answers that record
only), one `Budget.SettleBatch` for the rest (per-record `Settle` when Budget does
not have it, or refuses the batch for one record's sake), then their rows in one
transaction (one by one, with `record`'s dead-letter path, when the database refuses
the batch). A second copy of an id in the batch is answered as a duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from sqlalchemy.exc import DataError, IntegrityError

from services.metering.callers import CallerCheck, UnknownCaller
from services.metering.deadletters import DeadLetters
from services.metering.ledger import Entry, Recorded, UsageLedger, from_unix_ms
from services.metering.safety import Safe, make_safe
from services.metering.statuses import (
    ROUTE_REASONS,
    SOURCES,
    STATUSES,
    CallStatus,
    RouteReason,
    UsageSource,
)
from tollgate.money import MoneyError, to_nano
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2, metering_pb2

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_SECONDS = 10.0
SETTLE_BATCH_TIMEOUT_SECONDS = 30.0
# After Budget answered SettleBatch UNIMPLEMENTED (an older Budget), batches are
# settled record by record; SettleBatch is tried again this much later.
SETTLE_BATCH_RETRY_SECONDS = 60.0
ALERT_TIMEOUT_SECONDS = 5.0
# More tokens than any call has: a count past this is a corrupt record, and priced it
# could overflow the 64-bit money columns.
MAX_TOKENS = 10**12


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# A batch's answer for one record: written (or held already), refused for good, or
# None: not written this time (its settlement failed), for the sender to send again.
Outcome = Recorded | Refused | None
# Budget's answers to a SettleBatch that mean Budget itself is out of reach: no record
# of the batch can be settled now. Any other refusal is tried record by record.
BUDGET_DOWN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass
class _Accepted:
    """A record of a batch that passed its checks, on its way to the ledger."""

    index: int
    request: metering_pb2.UsageRecord  # as it came
    record: metering_pb2.UsageRecord  # made safe
    status: CallStatus
    billed: common_pb2.Usage


def _check(request: metering_pb2.UsageRecord) -> CallStatus:
    if not request.request_id or not request.caller.project_id:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "request_id and caller needed")
    status = STATUSES.get(request.status)
    if status is None:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "status must be set")
    usage = request.usage
    counts = (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.reasoning_tokens,
        usage.cache_write_tokens,
    )
    if min(counts) < 0:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "token counts cannot be negative")
    if max(counts) > MAX_TOKENS:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"token counts above {MAX_TOKENS}")
    return status


def _entry(
    record: metering_pb2.UsageRecord,
    billed: common_pb2.Usage,
    status: CallStatus,
    settled: budget_pb2.SettleResponse,
) -> Entry:
    cost = to_nano(settled.cost.amount)
    return Entry(
        request_id=record.request_id,
        project_id=record.caller.project_id,
        key_id=record.caller.key_id,
        end_user=record.caller.end_user,
        model_requested=record.model_requested,
        model_served=record.model_served,
        provider=record.provider,
        prompt_tokens=billed.prompt_tokens,
        completion_tokens=billed.completion_tokens,
        cached_tokens=billed.cached_tokens,
        reasoning_tokens=billed.reasoning_tokens,
        cache_write_tokens=billed.cache_write_tokens,
        usage_source=SOURCES.get(record.usage_source, UsageSource.ESTIMATED),
        cost_nano=cost,
        currency=settled.cost.currency,
        status=status,
        http_status=record.http_status or 200,
        stream=record.stream,
        latency_ms=max(int(record.latency_ms), 0),
        started_at=from_unix_ms(record.started_at_unix_ms),
        deployment=record.deployment,
        attempts=max(int(record.attempts), 0),
        cache_hit=record.cache_hit,
        route_reason=ROUTE_REASONS.get(record.route_reason, RouteReason.ASKED),
        saved_nano=_saved(settled, cost),
        compacted_tokens=record.compacted_tokens,
        batch_id=record.batch_id,
    )


def _savings_terms(record: metering_pb2.UsageRecord, billed: common_pb2.Usage) -> dict[str, Any]:
    """Settle's cost fraction and reference: the usage before prompt compaction (a cache
    hit's stored usage) at the reference model, or the served one. A failed call (billed
    nothing) has no reference: it saved nothing."""
    terms: dict[str, Any] = {"cost_fraction": record.cost_fraction}  # a cache hit's
    if billed == common_pb2.Usage():
        return terms
    reference = common_pb2.Usage()
    reference.CopyFrom(billed)
    reference.prompt_tokens += record.compacted_tokens  # made safe: 0 to 10**12
    return {
        **terms,
        "reference_model": record.reference_model or record.model_served,
        "reference_usage": reference,
    }


def _billed(record: metering_pb2.UsageRecord, status: CallStatus) -> common_pb2.Usage:
    # A failed call costs nothing: settle it at zero, which frees its reservation.
    return record.usage if status is not CallStatus.FAILED else common_pb2.Usage()


def _settle_request(
    record: metering_pb2.UsageRecord, billed: common_pb2.Usage
) -> budget_pb2.SettleRequest:
    return budget_pb2.SettleRequest(
        request_id=record.request_id,
        caller=record.caller,
        model=record.model_served,
        usage=billed,
        started_at_unix_ms=record.started_at_unix_ms,
        batch_id=record.batch_id,  # a Batch API line: at the batch price
        **_savings_terms(record, billed),
    )


def _saved(settled: budget_pb2.SettleResponse, cost: int) -> int:
    """Reference cost minus cost, never negative: a lever that served a dearer model (a
    fallback) saved nothing. A reference past any amount saves nothing either."""
    try:
        return max(to_nano(settled.reference_cost.amount or "0") - cost, 0)
    except MoneyError:
        return 0


@dataclass
class Ingest:
    ledger: UsageLedger
    budget: budget_pb2_grpc.BudgetStub
    callers: CallerCheck
    dead_letters: DeadLetters
    _settle_batch_after: float = field(default=0.0, init=False)  # monotonic

    def record(self, request: metering_pb2.UsageRecord) -> Recorded:
        status = self._accept(request)
        safe = make_safe(request)
        if safe.problems:
            self._set_aside(request, safe, "; ".join(safe.problems))
        record = safe.record
        # No look-up first: a repeated delivery (rare) settles again, which Budget answers
        # with the first settlement's cost, and the ledger keeps its first row; a look-up
        # would cost every first delivery a transaction more.
        billed = _billed(record, status)
        settled = self._settle(record, billed)
        return self._write(_Accepted(0, request, record, status, billed), settled)

    def record_batch(self, requests: Sequence[metering_pb2.UsageRecord]) -> list[Outcome]:
        """`record` for each of `requests`, settled with one SettleBatch and written in
        one transaction where it can be: one outcome per request, in order. Raises
        Refused(UNAVAILABLE) when Budget is out of reach (nothing is written)."""
        outcomes: list[Outcome] = [None] * len(requests)
        accepted: list[_Accepted] = []
        first: dict[str, int] = {}  # request id -> its first accepted copy's index
        copies: list[tuple[int, int]] = []  # (a later copy's index, the first's)
        for index, request in enumerate(requests):
            try:
                status = self._accept(request)
            except Refused as refused:
                outcomes[index] = refused
                continue
            if request.request_id in first:
                copies.append((index, first[request.request_id]))
                continue
            first[request.request_id] = index
            safe = make_safe(request)
            if safe.problems:
                self._set_aside(request, safe, "; ".join(safe.problems))
            billed = _billed(safe.record, status)
            accepted.append(_Accepted(index, request, safe.record, status, billed))
        settled = self._settle_batch(accepted)
        ready = [
            (item, done)
            for item, done in zip(accepted, settled, strict=True)
            if done is not None  # else its Settle failed: the sender sends it again
        ]
        for item, recorded in zip(ready, self._write_batch(ready), strict=True):
            outcomes[item[0].index] = recorded
        for index, of in copies:
            held = outcomes[of]
            if isinstance(held, Recorded):
                outcomes[index] = Recorded(held.cost_nano, held.currency, True)
        return outcomes

    def _accept(self, request: metering_pb2.UsageRecord) -> CallStatus:
        status = _check(request)
        try:
            self.callers.check(request.caller)
        except UnknownCaller as exc:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None
        return status

    def _settle_batch(self, accepted: list[_Accepted]) -> list[budget_pb2.SettleResponse | None]:
        """Each accepted record's settlement, or None where its own Settle failed."""
        if not accepted:
            return []
        if time.monotonic() >= self._settle_batch_after:
            batch = budget_pb2.SettleBatchRequest(
                settles=[_settle_request(item.record, item.billed) for item in accepted]
            )
            try:
                answer = self.budget.SettleBatch(batch, timeout=SETTLE_BATCH_TIMEOUT_SECONDS)
                if len(answer.results) == len(accepted):
                    return list(answer.results)
                log.error("SettleBatch answered %d of %d", len(answer.results), len(accepted))
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                if code in BUDGET_DOWN:
                    log.warning("settle of a batch of %d failed: %s", len(accepted), code)
                    raise Refused(
                        grpc.StatusCode.UNAVAILABLE, "budget service unavailable"
                    ) from None
                if code is grpc.StatusCode.UNIMPLEMENTED:
                    self._settle_batch_after = time.monotonic() + SETTLE_BATCH_RETRY_SECONDS
                    log.info("budget has no SettleBatch; settling record by record")
                else:
                    log.warning("SettleBatch refused (%s); settling record by record", code)
        settled: list[budget_pb2.SettleResponse | None] = []
        for item in accepted:
            try:
                settled.append(self._settle(item.record, item.billed))
            except Refused:
                settled.append(None)  # the sender sends it again; the others go on
        return settled

    def _write_batch(
        self, ready: list[tuple[_Accepted, budget_pb2.SettleResponse]]
    ) -> list[Recorded]:
        entries = [_entry(item.record, item.billed, item.status, done) for item, done in ready]
        try:
            return self.ledger.add_many(entries)
        except (DataError, IntegrityError):
            # One row the database refused rolled the batch back: row by row, each
            # with record's way out for a row the database refuses.
            return [self._write(item, done) for item, done in ready]

    def _write(self, item: _Accepted, settled: budget_pb2.SettleResponse) -> Recorded:
        request = item.request
        try:
            return self.ledger.add(_entry(item.record, item.billed, item.status, settled))
        except (DataError, IntegrityError) as exc:
            # The database refused what make_safe let through: keep the record as it
            # came, and bill it with its text cut to printable ASCII.
            last = make_safe(request, strict=True)
            self._set_aside(request, last, f"the ledger refused it: {exc.orig}")
            return self.ledger.add(_entry(last.record, item.billed, item.status, settled))

    def _settle(
        self, record: metering_pb2.UsageRecord, billed: common_pb2.Usage
    ) -> budget_pb2.SettleResponse:
        try:
            settled: budget_pb2.SettleResponse = self.budget.Settle(
                _settle_request(record, billed), timeout=SETTLE_TIMEOUT_SECONDS
            )
        except grpc.RpcError as exc:
            # The sender keeps the record and retries; nothing is written here.
            log.warning("settle of %s failed: %s", record.request_id, exc.code())  # type: ignore[attr-defined]
            raise Refused(grpc.StatusCode.UNAVAILABLE, "budget service unavailable") from None
        return settled

    def _set_aside(self, request: metering_pb2.UsageRecord, safe: Safe, error: str) -> None:
        """Keep the record as it came, say so once, and alert an operator once."""
        request_id, project_id = safe.record.request_id, safe.record.caller.project_id
        letter, new = self.dead_letters.add(
            request_id, project_id, request.SerializeToString(), error
        )
        if new:
            log.warning(
                "usage record %s of project %s kept in the dead-letter table (%s); "
                "billed with those fields made safe",
                request_id,
                project_id,
                error,
            )
        if letter.alerted:
            return
        message = (
            f"tollgate: usage record {request_id} of project {project_id} could not be "
            f"written as it came ({error}). It was billed with those fields made safe and "
            "kept in metering's dead-letter table (`tollgate health metering`)."
        )
        try:
            self.budget.RecordOperatorAlert(
                budget_pb2.OperatorAlertRequest(
                    subject=f"dead_letter:{request_id}", project_id=project_id, message=message
                ),
                timeout=ALERT_TIMEOUT_SECONDS,
            )
        except grpc.RpcError as exc:
            log.warning(
                "operator alert for dead letter %s not recorded (%s); tried again if the "
                "record comes again",
                request_id,
                exc.code(),  # type: ignore[attr-defined]
            )
            return
        self.dead_letters.mark_alerted(request_id)
