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
from services.budget.budgets import (
    BudgetRule,
    Counter,
    CounterId,
    budgets_for_call,
    lock_counters,
    move,
)
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
    # The model held at (DOWNGRADED: the cheaper one); "" where nothing is held.
    model: str = ""


@dataclass(frozen=True)
class Cheaper:
    """The cheaper model a call may be downgraded to, its worst case (its route's
    candidates included), and the project's threshold (downgrade.py)."""

    model: str
    amount_nano: int
    threshold: downgrade.Threshold


@dataclass(frozen=True)
class AuthorizeCall:
    """One Authorize's request: reserve the worst case of `model` and each of
    `candidates` for a call of this size (see ReservationBook.authorize)."""

    request_id: str
    project_id: str
    key_id: str
    model: str
    prompt_tokens: int
    max_completion_tokens: int
    choices: int = 1
    downgrade_model: str = ""
    candidates: tuple[str, ...] = ()
    downgrade_candidates: tuple[str, ...] = ()
    batch_id: str = ""
    hold_seconds: int = 0

    @property
    def size(self) -> CallSize:
        return CallSize(self.prompt_tokens, self.max_completion_tokens, self.choices)


@dataclass(frozen=True)
class _Decided:
    """What the reads decided for a call a hard budget applies to: its caller, the
    worst case to hold, and the downgrade on offer (None: none)."""

    caller: AuthorizedKey
    amount_nano: int
    cheaper: Cheaper | None
    ttl: timedelta  # how long the hold lasts unsettled


@dataclass(frozen=True)
class _Taken:
    """A call held in a batch: its answer, and the counters its hold moves."""

    call: AuthorizeCall
    answer: Authorization
    ttl: timedelta
    counters: tuple[CounterId, ...]


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
        is how long the hold lasts unsettled. ValueError (HoldTooLong) when the hold
        asked is too long, or the request has finished already."""
        call = AuthorizeCall(
            request_id,
            project_id,
            key_id,
            model,
            prompt_tokens,
            max_completion_tokens,
            choices,
            downgrade_model,
            tuple(candidates),
            tuple(downgrade_candidates),
            batch_id,
            hold_seconds,
        )
        return self.authorize_call(call, now=now)

    def authorize_call(self, call: AuthorizeCall, *, now: datetime | None = None) -> Authorization:
        """`authorize` of one AuthorizeCall."""
        outcome = self.authorize_many([call], now=now)[0]
        if isinstance(outcome, ValueError):
            raise outcome
        return outcome

    def authorize_many(
        self, calls: Sequence[AuthorizeCall], *, now: datetime | None = None
    ) -> list[Authorization | ValueError]:
        """Each call decided as `authorize` would decide it alone, in order, in one
        read transaction and one write transaction for them all: the counters the
        calls hold against are locked once, in sorted order, so batches of two
        replicas queue like single calls and never deadlock. One outcome a call: its
        Authorization, or the ValueError `authorize` would raise for it (nothing is
        held for that call)."""
        now = now or utcnow()
        ids = [call.request_id for call in calls]
        if len(set(ids)) < len(ids):  # a request twice: each in turn, as if alone
            return [self.authorize_many([call], now=now)[0] for call in calls]
        if any(self._hard.get(call.project_id, False) for call in calls):
            # A project had a hard budget at its last Authorize here: read and reserve
            # in one write transaction, not a read transaction and then a write one.
            with self.engine.begin() as conn:
                decided = [self._decide(conn, call, now) for call in calls]
                return self._reserve_all(conn, calls, decided, now)
        with read_transaction(self.engine) as conn:
            decided = [self._decide(conn, call, now) for call in calls]
        if not any(isinstance(d, _Decided) for d in decided):
            return [d for d in decided if not isinstance(d, _Decided)]
        with self.engine.begin() as conn:
            return self._reserve_all(conn, calls, decided, now)

    def _decide(
        self, conn: Connection, call: AuthorizeCall, now: datetime
    ) -> Authorization | ValueError | _Decided:
        """What the reads alone decide: a refusal, an ALLOWED answer that holds nothing
        (no hard budget applies), the hold to take (`_Decided`), or HoldTooLong."""
        try:
            ttl = hold_ttl(call.hold_seconds, self.ttl)
        except HoldTooLong as exc:
            return exc
        # The key, its project and whether a hard budget applies, read on every
        # Authorize (never cached here): a revoked or paused key is refused from the
        # next call that asks. Where nothing is held the gateway may reuse an ALLOWED
        # answer for up to REUSE_MS without asking (reuse_ms_for).
        size = call.size
        project = conn.execute(queries.CALLER, {"key_id": call.key_id}).first()
        if project is None or project.key_revoked_at is not None or project.id != call.project_id:
            return Authorization(Decision.KEY_REVOKED, message=refusals.KEY_REVOKED)
        self._hard[call.project_id] = bool(project.has_hard_budget)
        if project.key_expires_at is not None and as_utc(project.key_expires_at) <= now:
            return Authorization(Decision.KEY_EXPIRED, message=refusals.KEY_EXPIRED)
        if project.key_paused_at is not None:
            message = refusals.key_paused(project.key_paused_at)
            return Authorization(Decision.KEY_PAUSED, message=message)
        pricing = Pricing(project, self.usd_to_cny, batch=bool(call.batch_id))
        prices = catalogue(conn, stamp_of(project)).at
        worst = dearest(prices, [call.model, *call.candidates], size, pricing, now)
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
            reuse = reuse_ms_for(project.key_expires_at, call.batch_id, now)
            return Authorization(Decision.ALLOWED, 0, project.currency, reuse_ms=reuse)
        cheaper = None
        if call.downgrade_model and call.downgrade_model != call.model:
            models = [call.downgrade_model, *call.downgrade_candidates]
            cheaper = self._cheaper(conn, (prices, pricing), models, size, now)
        caller = AuthorizedKey(project, call.key_id, project.key_name)
        return _Decided(caller, worst.amount_nano, cheaper, ttl)

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

    def _reserve_all(
        self,
        conn: Connection,
        calls: Sequence[AuthorizeCall],
        decided: Sequence[Authorization | ValueError | _Decided],
        now: datetime,
    ) -> list[Authorization | ValueError]:
        """Hold each decided call's worst case against every hard budget that applies
        to it, in `conn`'s write transaction; a call already answered keeps its
        answer. The budgets are read again here (an operator may have just changed
        them), then every counter the calls need is locked at once, in sorted order."""
        outcomes: list[Authorization | ValueError] = []
        wanted: list[tuple[int, AuthorizeCall, _Decided, list[BudgetRule], dict[int, CounterId]]]
        wanted = []
        for index, (call, answer) in enumerate(zip(calls, decided, strict=True)):
            if not isinstance(answer, _Decided):
                outcomes.append(answer)
                continue
            try:
                repeated = self._repeated(conn, call, answer)
            except ValueError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(repeated or Authorization(Decision.ALLOWED))
            if repeated is None:
                rules = budgets_for_call(conn, call.project_id, call.key_id, hard_only=True)
                held = {r.id: (r.id, period_key(r.period, now, self.zone)) for r in rules}
                wanted.append((index, call, answer, rules, held))
        counter_ids = {counter_id for *_, held in wanted for counter_id in held.values()}
        counters = lock_counters(conn, counter_ids, create=counter_ids)
        taken: list[_Taken] = []
        for index, call, answer, rules, held in wanted:
            outcome = self._take(conn, call, answer, (rules, held, counters), now)
            outcomes[index] = outcome
            if outcome.decision in (Decision.ALLOWED, Decision.DOWNGRADED):
                taken.append(_Taken(call, outcome, answer.ttl, tuple(held.values())))
        self._write_holds(conn, taken, now)
        return outcomes

    @staticmethod
    def _repeated(conn: Connection, call: AuthorizeCall, decided: _Decided) -> Authorization | None:
        """The answer to a repeated Authorize of a request that holds already (None:
        a new request); ValueError when that request has finished."""
        existing = conn.execute(queries.RESERVATION, {"request_id": call.request_id}).first()
        if existing is None:
            return None
        if existing.state != ReservationState.OPEN:
            raise ValueError(f"request {call.request_id} has already finished")
        cheaper = decided.cheaper
        decision = Decision.ALLOWED
        if cheaper is not None and existing.model == cheaper.model:
            decision = Decision.DOWNGRADED
        return Authorization(decision, existing.amount_nano, existing.currency)

    def _take(
        self,
        conn: Connection,
        call: AuthorizeCall,
        decided: _Decided,
        budgets: tuple[list[BudgetRule], dict[int, CounterId], dict[CounterId, Counter]],
        now: datetime,
    ) -> Authorization:
        """Decide one call against the locked counters as they stand (the calls before
        it in the batch included), and count its hold in them when it fits."""
        rules, held, counters = budgets
        caller, amount, cheaper = decided.caller, decided.amount_nano, decided.cheaper
        project = caller.project
        decision = Decision.ALLOWED
        if cheaper is not None:
            past = downgrade.passed(cheaper.threshold, rules, held, counters, now, self.zone)
            if past is not None:
                self._alert_downgrade(conn, project, past, call.model, cheaper.model, now)
                decision, amount = Decision.DOWNGRADED, cheaper.amount_nano
        for rule in rules:
            counter = counters[held[rule.id]]
            if counter.committed_nano + counter.reserved_nano + amount > rule.amount_nano:
                key = held[rule.id][1]
                return Authorization(
                    Decision.BUDGET_EXCEEDED,
                    currency=project.currency,
                    message=refusals.budget_exceeded(
                        caller, rule, counter, amount, key, self.zone, call.size
                    ),
                )
        for counter_id in set(held.values()):
            counter = counters[counter_id]
            counters[counter_id] = Counter(counter.committed_nano, counter.reserved_nano + amount)
        model = cheaper.model if decision is Decision.DOWNGRADED and cheaper else call.model
        return Authorization(decision, amount, project.currency, model=model)

    def _write_holds(self, conn: Connection, taken: Sequence[_Taken], now: datetime) -> None:
        """The reservations, their holds and the counters' moves of the calls taken: one
        statement a table, one move a counter (in sorted order)."""
        if not taken:
            return
        conn.execute(
            queries.INSERT_RESERVATION,
            [
                {
                    "request_id": t.call.request_id,
                    "project_id": t.call.project_id,
                    "key_id": t.call.key_id,
                    "model": t.answer.model,
                    "period": self.month_of(now),
                    "currency": t.answer.currency,
                    "amount_nano": t.answer.reserved_nano,
                    "state": ReservationState.OPEN,
                    "cost_nano": None,
                    "created_at": now,
                    "expires_at": now + t.ttl,
                    "batch_id": t.call.batch_id,
                }
                for t in taken
            ],
        )
        moves: dict[CounterId, int] = {}
        for t in taken:
            for counter_id in t.counters:
                moves[counter_id] = moves.get(counter_id, 0) + t.answer.reserved_nano
        for counter_id in sorted(moves):
            move(conn, counter_id, reserved=moves[counter_id])
        holds = [
            {
                "request_id": t.call.request_id,
                "budget_id": budget_id,
                "period_key": key,
                "amount_nano": t.answer.reserved_nano,
            }
            for t in taken
            for budget_id, key in t.counters
        ]
        if holds:
            conn.execute(queries.INSERT_HOLDS, holds)

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
