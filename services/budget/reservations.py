"""Reservations: a call's worst-case cost is held against every hard budget that
applies to it (its project's and its key's) before it reaches an upstream, and
replaced by the actual cost when it settles.

Each step is one transaction that first locks the budget counters it moves, in one
sorted order (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL), so
that "committed + reserved + this call <= hard limit" holds for every hard budget
however many budget replicas decide at once. Each reservation remembers its holds
(budget, period key, amount), so settlement and release move exactly those counters.

The amount held is the largest worst case of every model that may serve the call
(holds.py): a fallback to a dearer model never bills more than was held. What a
refusal says is in refusals.py.

A Batch API line (`batch_id`) is held and billed at the batch price (batch_prices.py),
and held for its batch's window (`hold_seconds`) instead of the default TTL: its
hold counts against the hard budgets like any other until the line settles, is
released, or the window passes, so lines of many batches at once never overshoot.
The reservation keeps its batch, so the line settles at the batch price it was held
at even if its Settle does not name the batch.

An ALLOWED answer that holds nothing (no hard budget applies to the project or the
key) says how long the gateway may reuse it for the same key and call shape without
asking (`reuse_ms`: at most a second, never past the key's expiry, never for a batch
line): such a call runs unreserved either way, and Settle prices it at its start time.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row, select

from services.budget import downgrade, queries, refusals
from services.budget.budgets import budgets_for_call, lock_counters, move
from services.budget.catalogue import PriceLookup, catalogue, stamp_of
from services.budget.holds import (
    CallSize,
    HoldTooLong,
    Pricing,
    Usage,
    dearest,
    free,
    held_by,
    hold_ttl,
)
from services.budget.periods import period_key
from services.budget.reference import NO_TERMS, SettleTerms
from services.budget.refusals import AuthorizedKey
from services.budget.reservation_state import ReservationState
from services.budget.settlement import Rates, SettleCall, Settlement, settle_many
from services.budget.status import Status, budget_status
from tollgate.db import as_utc, read_transaction, utcnow
from tollgate.db.models import Reservation

__all__ = [
    "Authorization",
    "Decision",
    "HoldTooLong",
    "ReservationBook",
    "SettleCall",
    "Settlement",
    "Usage",
]


# The longest the gateway may reuse an answer without asking: a revoked, paused or
# newly budgeted key is seen within it even if the gateway's watchers missed it.
REUSE_MS = 1000


class Decision(enum.Enum):
    ALLOWED = "allowed"
    BUDGET_EXCEEDED = "budget_exceeded"
    KEY_REVOKED = "key_revoked"
    KEY_PAUSED = "key_paused"
    KEY_EXPIRED = "key_expired"
    MODEL_NOT_PRICED = "model_not_priced"
    DOWNGRADED = "downgraded"  # allowed, reserved (and to be served) at the cheaper model


@dataclass(frozen=True)
class Authorization:
    decision: Decision
    reserved_nano: int = 0
    currency: str = ""
    message: str = ""
    # How long the caller may reuse an ALLOWED answer without asking (reuse_ms_for).
    reuse_ms: int = 0


@dataclass(frozen=True)
class Cheaper:
    """The cheaper model a call may be downgraded to, its worst case (its route's
    candidates included), and the project's threshold (downgrade.py)."""

    model: str
    amount_nano: int
    threshold: downgrade.Threshold


@dataclass(frozen=True)
class _Call:
    """One Authorize's request, as `authorize` was given it."""

    request_id: str
    project_id: str
    key_id: str
    model: str
    size: CallSize
    now: datetime
    downgrade_model: str
    candidates: tuple[str, ...]
    downgrade_candidates: tuple[str, ...]
    batch_id: str


@dataclass(frozen=True)
class _Decided:
    """What the reads decided for a call a hard budget applies to: its caller, the
    worst case to hold, and the downgrade on offer (None: none)."""

    caller: AuthorizedKey
    amount_nano: int
    cheaper: Cheaper | None


def reuse_ms_for(key_expires_at: datetime | None, batch_id: str, now: datetime) -> int:
    """How long an ALLOWED answer that held nothing may be reused by the gateway for
    the same key and call shape: at most REUSE_MS, never past the key's expiry, and
    never for a Batch API line. Only for calls no hard budget applies to, where the
    answer does not depend on the call's size (no downgrade is considered)."""
    if batch_id:
        return 0
    if key_expires_at is None:
        return REUSE_MS
    left = (as_utc(key_expires_at) - now) // timedelta(milliseconds=1)
    return max(0, min(REUSE_MS, left))


class ReservationBook:
    """Reservation and settlement over one database; safe across processes."""

    def __init__(
        self,
        engine: Engine,
        *,
        usd_to_cny: Decimal,
        ttl_seconds: float,
        zone: ZoneInfo | None = None,
    ) -> None:
        self.engine = engine
        self.usd_to_cny = usd_to_cny
        self.ttl = timedelta(seconds=ttl_seconds)
        self.zone = zone or ZoneInfo("UTC")
        # (project, budget, period key) whose downgrade alert this process recorded.
        self._downgrade_alerted: set[tuple[str, int, str]] = set()
        # Projects that had a hard budget at their last Authorize here: a hint of which
        # transaction to begin with, never a decision (the reads decide, every time).
        self._hard: dict[str, bool] = {}

    def month_of(self, at: datetime) -> str:
        return period_key("monthly", at, self.zone)

    def authorize(
        self,
        request_id: str,
        project_id: str,
        key_id: str,
        model: str,
        prompt_tokens: int,
        max_completion_tokens: int,
        *,
        choices: int = 1,
        now: datetime | None = None,
        downgrade_model: str = "",
        candidates: Sequence[str] = (),
        downgrade_candidates: Sequence[str] = (),
        batch_id: str = "",
        hold_seconds: int = 0,
    ) -> Authorization:
        """Reserve a call's worst case: the largest of `model`'s and each candidate's
        (every upstream model a fallback may serve it with). A candidate without a
        price refuses the call (MODEL_NOT_PRICED): it could not be billed. With
        `downgrade_model`, a project past its downgrade threshold is DOWNGRADED:
        reserved at that model and `downgrade_candidates` instead. A batch line
        (`batch_id`) is reserved at the batch price; `hold_seconds` (0: the default TTL)
        is how long the hold lasts unsettled."""
        ttl = hold_ttl(hold_seconds, self.ttl)
        now = now or utcnow()
        size = CallSize(prompt_tokens, max_completion_tokens, choices)
        call = _Call(
            request_id,
            project_id,
            key_id,
            model,
            size,
            now,
            downgrade_model,
            tuple(candidates),
            tuple(downgrade_candidates),
            batch_id,
        )
        if self._hard.get(project_id, False):
            # Its project had a hard budget at its last Authorize here: read and reserve
            # in one write transaction, not a read transaction and then a write one.
            with self.engine.begin() as conn:
                decided = self._decide(conn, call)
                if isinstance(decided, Authorization):
                    return decided
                return self._reserve_in(conn, call, decided, ttl)
        with read_transaction(self.engine) as conn:
            decided = self._decide(conn, call)
        if isinstance(decided, Authorization):
            return decided
        with self.engine.begin() as conn:
            return self._reserve_in(conn, call, decided, ttl)

    def _decide(self, conn: Connection, call: _Call) -> Authorization | _Decided:
        """What the reads alone decide: a refusal, an ALLOWED answer that holds nothing
        (no hard budget applies), or the hold to take (`_Decided`)."""
        # The key, its project and whether a hard budget applies, read on every
        # Authorize (never cached here): a revoked or paused key is refused from the
        # next call that asks. Where nothing is held the gateway may reuse an ALLOWED
        # answer for up to REUSE_MS without asking (reuse_ms_for).
        project = conn.execute(queries.CALLER, {"key_id": call.key_id}).first()
        if project is None or project.key_revoked_at is not None or project.id != call.project_id:
            return Authorization(Decision.KEY_REVOKED, message=refusals.KEY_REVOKED)
        self._hard[call.project_id] = bool(project.has_hard_budget)
        if project.key_expires_at is not None and as_utc(project.key_expires_at) <= call.now:
            return Authorization(Decision.KEY_EXPIRED, message=refusals.KEY_EXPIRED)
        if project.key_paused_at is not None:
            message = refusals.key_paused(project.key_paused_at)
            return Authorization(Decision.KEY_PAUSED, message=message)
        pricing = Pricing(project, self.usd_to_cny, batch=bool(call.batch_id))
        prices = catalogue(conn, stamp_of(project)).at
        worst = dearest(prices, [call.model, *call.candidates], call.size, pricing, call.now)
        if worst.unpriced:
            message = (
                refusals.not_priced(call.model)
                if worst.unpriced == call.model
                else refusals.fallback_not_priced(call.model, worst.unpriced)
            )
            return Authorization(Decision.MODEL_NOT_PRICED, message=message)
        if not project.has_hard_budget:
            # No hard limit: nothing to hold, and no write lock taken. Settlement prices
            # the call at its start time.
            reuse = reuse_ms_for(project.key_expires_at, call.batch_id, call.now)
            return Authorization(Decision.ALLOWED, 0, project.currency, reuse_ms=reuse)
        cheaper = None
        if call.downgrade_model and call.downgrade_model != call.model:
            models = [call.downgrade_model, *call.downgrade_candidates]
            cheaper = self._cheaper(conn, (prices, pricing), models, call.size, call.now)
        caller = AuthorizedKey(project, call.key_id, project.key_name)
        return _Decided(caller, worst.amount_nano, cheaper)

    @staticmethod
    def _cheaper(
        conn: Connection,
        priced: tuple[PriceLookup, Pricing],
        models: list[str],
        size: CallSize,
        now: datetime,
    ) -> Cheaper | None:
        """The downgrade on offer (`models[0]`, held at the dearest of `models`): none
        without a threshold, or when one of `models` has no price."""
        prices, pricing = priced
        threshold = downgrade.threshold_of(conn, pricing.project.id)
        if threshold is None:
            return None
        worst = dearest(prices, models, size, pricing, now)
        return None if worst.unpriced else Cheaper(models[0], worst.amount_nano, threshold)

    def _reserve_in(
        self, conn: Connection, call: _Call, decided: _Decided, ttl: timedelta
    ) -> Authorization:
        """Hold the call's worst case against each hard budget that applies, in `conn`'s
        write transaction (`ttl`: how long the hold lasts unsettled)."""
        request_id, now, size, batch_id = call.request_id, call.now, call.size, call.batch_id
        caller, amount, cheaper = decided.caller, decided.amount_nano, decided.cheaper
        model = call.model
        project = caller.project
        decision = Decision.ALLOWED
        existing = conn.execute(queries.RESERVATION, {"request_id": request_id}).first()
        if existing is not None:  # a repeated Authorize of the same request
            if existing.state != ReservationState.OPEN:
                raise ValueError(f"request {request_id} has already finished")
            if cheaper is not None and existing.model == cheaper.model:
                decision = Decision.DOWNGRADED
            return Authorization(decision, existing.amount_nano, existing.currency)
        # Read the budgets again inside the transaction: an operator may have just
        # changed them.
        rules = budgets_for_call(conn, project.id, caller.key_id, hard_only=True)
        held = {rule.id: (rule.id, period_key(rule.period, now, self.zone)) for rule in rules}
        counters = lock_counters(conn, held.values(), create=held.values())
        if cheaper is not None:
            past = downgrade.passed(cheaper.threshold, rules, held, counters, now, self.zone)
            if past is not None:
                self._alert_downgrade(conn, project, past, model, cheaper.model, now)
                decision, model, amount = (
                    Decision.DOWNGRADED,
                    cheaper.model,
                    cheaper.amount_nano,
                )
        for rule in rules:
            counter = counters[held[rule.id]]
            if counter.committed_nano + counter.reserved_nano + amount > rule.amount_nano:
                key = held[rule.id][1]
                return Authorization(
                    Decision.BUDGET_EXCEEDED,
                    currency=project.currency,
                    message=refusals.budget_exceeded(
                        caller, rule, counter, amount, key, self.zone, size
                    ),
                )
        conn.execute(
            queries.INSERT_RESERVATION,
            {
                "request_id": request_id,
                "project_id": project.id,
                "key_id": caller.key_id,
                "model": model,
                "period": self.month_of(now),
                "currency": project.currency,
                "amount_nano": amount,
                "state": ReservationState.OPEN,
                "cost_nano": None,
                "created_at": now,
                "expires_at": now + ttl,
                "batch_id": batch_id,
            },
        )
        for counter_id in sorted(held.values()):
            move(conn, counter_id, reserved=amount)
        conn.execute(
            queries.INSERT_HOLDS,
            [
                {
                    "request_id": request_id,
                    "budget_id": b,
                    "period_key": k,
                    "amount_nano": amount,
                }
                for b, k in held.values()
            ],
        )
        return Authorization(decision, amount, project.currency)

    def _alert_downgrade(
        self,
        conn: Connection,
        project: Row[Any],
        past: downgrade.Passed,
        model: str,
        cheaper: str,
        now: datetime,
    ) -> None:
        """Record the period's downgrade alert once (this process skips the insert
        after its first; the unique index keeps it to one across replicas)."""
        seen = (project.id, past.rule.id, past.period_key)
        if seen not in self._downgrade_alerted:
            downgrade.record_alert(conn, project, past, model, cheaper, now)
            self._downgrade_alerted.add(seen)

    def settle(
        self,
        request_id: str,
        project_id: str,
        key_id: str,
        model: str,
        usage: Usage,
        started_at: datetime,
        terms: SettleTerms = NO_TERMS,
    ) -> Settlement:
        call = SettleCall(request_id, project_id, key_id, model, usage, started_at, terms)
        return self.settle_many([call])[0]

    def settle_many(self, calls: Sequence[SettleCall]) -> list[Settlement]:
        """Settle `calls` in one transaction, each as it would settle alone, in order
        (settlement.py); one Settlement each."""
        return settle_many(self.engine, calls, Rates(self.usd_to_cny, self.zone))

    def release(
        self, request_id: str, *, state: ReservationState = ReservationState.RELEASED
    ) -> bool:
        """Drop an open reservation without cost; False when it was not open."""
        with self.engine.begin() as conn:
            reservation = conn.execute(
                queries.RESERVATION_LOCKED, {"request_id": request_id}
            ).first()
            if reservation is None or reservation.state != ReservationState.OPEN:
                return False
            holds = held_by(conn, reservation)
            free(conn, holds, lock_counters(conn, holds))
            conn.execute(queries.DELETE_HOLDS, {"request_id": request_id})
            conn.execute(queries.RELEASE, {"finished_id": request_id, "new_state": state})
            return True

    def expire(self, now: datetime | None = None, limit: int = 500) -> int:
        """Release reservations of calls that never settled (their caller died)."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            stale = (
                conn.execute(
                    select(Reservation.request_id)
                    .where(Reservation.state == ReservationState.OPEN, Reservation.expires_at < now)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            conn.rollback()
        return sum(self.release(request_id, state=ReservationState.EXPIRED) for request_id in stale)

    def status(self, project_id: str, now: datetime | None = None) -> Status:
        return budget_status(self.engine, project_id, self.zone, now or utcnow())
