"""Reservations: a call's worst-case cost is held against every hard budget that
applies to it (its project's and its key's) before it reaches an upstream, and
replaced by the actual cost when it settles.

Each step is one transaction that first locks the budget counters it moves, in one
sorted order (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL), so
that "committed + reserved + this call <= hard limit" holds for every hard budget
however many budget replicas decide at once. Each reservation remembers its holds
(budget, period key, amount), so settlement and release move exactly those counters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row, select

from services.budget import alerts, queries
from services.budget.budgets import (
    BudgetRule,
    Counter,
    CounterId,
    budgets_for_call,
    lock_counters,
    move,
)
from services.budget.periods import describe_reset, period_key, resets_at
from services.budget.prices import price_at
from services.budget.status import Status, budget_status
from tollgate.db import as_utc, read_transaction, utcnow
from tollgate.db.models import HOLDS, RESERVATIONS, Reservation
from tollgate.money import Price, cost_nano, format_amount, from_nano


class Decision(enum.Enum):
    ALLOWED = "allowed"
    BUDGET_EXCEEDED = "budget_exceeded"
    KEY_REVOKED = "key_revoked"
    KEY_PAUSED = "key_paused"
    MODEL_NOT_PRICED = "model_not_priced"


@dataclass(frozen=True)
class Authorization:
    decision: Decision
    reserved_nano: int = 0
    currency: str = ""
    message: str = ""


@dataclass(frozen=True)
class Settlement:
    cost_nano: int
    currency: str
    already_settled: bool


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0  # the whole input, cached and cache-write tokens included
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    @staticmethod
    def worst_case(price: Price, prompt_tokens: int, completion_tokens: int) -> Usage:
        """The dearest way the prompt can be billed: as cache writes when they cost more
        than plain input (Anthropic's are 1.25x), and never as cheaper cache reads."""
        writes = prompt_tokens if price.cache_write_nano > price.input_nano else 0
        return Usage(prompt_tokens, completion_tokens, cache_write_tokens=writes)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as read at authorization: names for a refusal's message."""

    project: Row[Any]
    key_id: str
    key_name: str


class Ledger:
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

    def _cost(self, price: Price, usage: Usage, project: Row[Any]) -> int:
        """The call's cost in the project's currency, at its price multiplier."""
        return cost_nano(
            price,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            currency=project.currency,
            usd_to_cny=self.usd_to_cny,
            multiplier=from_nano(project.price_multiplier_nano),
        )

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
    ) -> Authorization:
        now = now or utcnow()
        with read_transaction(self.engine) as conn:
            # The key, its project and whether a hard budget applies, read on every
            # call (never cached): a revoked or paused key is refused from the next call.
            project = conn.execute(queries.CALLER, {"key_id": key_id}).first()
            if project is None or project.key_revoked_at is not None or project.id != project_id:
                return Authorization(Decision.KEY_REVOKED, message="This API key has been revoked.")
            if project.key_paused_at is not None:
                return Authorization(
                    Decision.KEY_PAUSED,
                    message=f"This API key has been paused since "
                    f"{as_utc(project.key_paused_at):%Y-%m-%d %H:%M} UTC; an operator can "
                    "resume it.",
                )
            price = price_at(conn, model, now)
            if price is None:
                return Authorization(
                    Decision.MODEL_NOT_PRICED,
                    message=f"The model `{model}` has no price yet, so tollgate cannot bill it. "
                    f"An operator can set one with `tollgate price set {model} ...`.",
                )
        output_cap = (max_completion_tokens or price.max_output_tokens) * choices
        amount = self._cost(
            price,
            Usage.worst_case(price, prompt_tokens, output_cap),
            project,
        )
        if not project.has_hard_budget:
            # No hard limit: nothing to hold, and no write lock taken. Settlement prices
            # the call at its start time.
            return Authorization(Decision.ALLOWED, 0, project.currency)
        caller = Caller(project, key_id, project.key_name)
        return self._reserve(request_id, caller, model, amount, now)

    def _reserve(
        self, request_id: str, caller: Caller, model: str, amount: int, now: datetime
    ) -> Authorization:
        project = caller.project
        with self.engine.begin() as conn:
            existing = conn.execute(queries.RESERVATION, {"request_id": request_id}).first()
            if existing is not None:  # a repeated Authorize of the same request
                if existing.state != "open":
                    raise ValueError(f"request {request_id} has already finished")
                return Authorization(Decision.ALLOWED, existing.amount_nano, existing.currency)
            # Read the budgets again inside the transaction: an operator may have just
            # changed them.
            rules = budgets_for_call(conn, project.id, caller.key_id, hard_only=True)
            held = {rule.id: (rule.id, period_key(rule.period, now, self.zone)) for rule in rules}
            counters = lock_counters(conn, held.values(), create=held.values())
            for rule in rules:
                counter = counters[held[rule.id]]
                if counter.committed_nano + counter.reserved_nano + amount > rule.amount_nano:
                    return Authorization(
                        Decision.BUDGET_EXCEEDED,
                        currency=project.currency,
                        message=self._refusal(caller, rule, counter, amount, held[rule.id][1]),
                    )
            conn.execute(
                RESERVATIONS.insert(),
                {
                    "request_id": request_id,
                    "project_id": project.id,
                    "key_id": caller.key_id,
                    "model": model,
                    "period": self.month_of(now),
                    "currency": project.currency,
                    "amount_nano": amount,
                    "state": "open",
                    "cost_nano": None,
                    "created_at": now,
                    "expires_at": now + self.ttl,
                },
            )
            for counter_id in sorted(held.values()):
                move(conn, counter_id, reserved=amount)
            conn.execute(
                HOLDS.insert(),
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
            return Authorization(Decision.ALLOWED, amount, project.currency)

    def _refusal(
        self, caller: Caller, rule: BudgetRule, counter: Counter, amount: int, key: str
    ) -> str:
        c = caller.project.currency
        project = f"project '{caller.project.name}'"
        if rule.key_id is None:
            owner = project.capitalize()
        else:
            label = f"'{caller.key_name}' ({caller.key_id})" if caller.key_name else caller.key_id
            owner = f"Key {label} of {project}"
        if rule.period == "total":
            span = "lifetime budget"
            resets = (
                "This budget never resets; an operator can raise it with `tollgate budget set`."
            )
        else:
            span = f"{rule.period} budget"
            reset = describe_reset(resets_at(rule.period, key, self.zone))
            resets = f"The budget resets at {reset}."
        when = "" if rule.period == "total" else f" for {key}"
        return (
            f"{owner} has reached its {span} of {c} {format_amount(rule.amount_nano)}{when}: "
            f"{c} {format_amount(counter.committed_nano)} spent and "
            f"{c} {format_amount(counter.reserved_nano)} held by calls in flight; "
            f"this call may cost up to {c} {format_amount(amount)}. {resets}"
        )

    def settle(
        self,
        request_id: str,
        project_id: str,
        key_id: str,
        model: str,
        usage: Usage,
        started_at: datetime,
    ) -> Settlement:
        with self.engine.begin() as conn:
            reservation = conn.execute(
                queries.RESERVATION_LOCKED, {"request_id": request_id}
            ).first()
            if reservation is not None and reservation.state == "settled":
                return Settlement(reservation.cost_nano or 0, reservation.currency, True)
            project = conn.execute(queries.PROJECT, {"project_id": project_id}).one()
            priced_at = as_utc(reservation.created_at) if reservation else as_utc(started_at)
            price = price_at(conn, model, priced_at)
            cost = self._cost(price, usage, project) if price else 0
            holds = self._holds(conn, reservation)
            # The cost counts against every budget in force, in the period the call started.
            rules = budgets_for_call(conn, project_id, key_id, hard_only=False)
            charged = {
                (rule.id, period_key(rule.period, priced_at, self.zone)): rule for rule in rules
            }
            counters = lock_counters(conn, holds, create=charged if cost else ())
            if holds:
                self._free(conn, holds, counters)
                conn.execute(queries.DELETE_HOLDS, {"request_id": request_id})
            crossings = []
            for counter_id, rule in sorted(charged.items()) if cost else ():
                move(conn, counter_id, committed=cost)
                before = counters[counter_id].committed_nano
                crossings.append(self._crossing(rule, counter_id[1], project, before, cost))
            if reservation is not None:
                conn.execute(
                    queries.FINISH,
                    {"finished_id": request_id, "new_state": "settled", "new_cost": cost},
                )
            else:  # settled without a reservation (it was never made): remember the answer
                conn.execute(
                    RESERVATIONS.insert(),
                    {
                        "request_id": request_id,
                        "project_id": project_id,
                        "key_id": key_id,
                        "model": model,
                        "period": self.month_of(priced_at),
                        "currency": project.currency,
                        "amount_nano": 0,
                        "state": "settled",
                        "cost_nano": cost,
                        "created_at": priced_at,
                        "expires_at": priced_at,
                    },
                )
            if crossings:
                alerts.record_crossings(conn, crossings, utcnow())
            return Settlement(cost, project.currency, False)

    @staticmethod
    def _crossing(
        rule: BudgetRule, key: str, project: Row[Any], before: int, cost: int
    ) -> alerts.Crossing:
        return alerts.Crossing(
            budget_id=rule.id,
            project_id=rule.project_id,
            key_id=rule.key_id,
            period=rule.period,
            period_key=key,
            limit_nano=rule.amount_nano,
            currency=project.currency,
            thresholds=rule.alert_at,
            before_nano=before,
            after_nano=before + cost,
            project_name=project.name,
        )

    @staticmethod
    def _holds(conn: Connection, reservation: Row[Any] | None) -> dict[CounterId, int]:
        """What an open reservation holds, by counter; nothing for any other."""
        if reservation is None or reservation.state != "open":
            return {}
        rows = conn.execute(queries.HOLDS_OF, {"request_id": reservation.request_id}).all()
        return {(row.budget_id, row.period_key): row.amount_nano for row in rows}

    @staticmethod
    def _free(
        conn: Connection, holds: dict[CounterId, int], counters: dict[CounterId, Counter]
    ) -> None:
        """Give back held amounts (counters of deleted budgets are gone: skip them)."""
        for counter_id, amount in sorted(holds.items()):
            if counter_id in counters:
                move(conn, counter_id, reserved=-amount)

    def release(self, request_id: str, *, state: str = "released") -> bool:
        """Drop an open reservation without cost; False when it was not open."""
        with self.engine.begin() as conn:
            reservation = conn.execute(
                queries.RESERVATION_LOCKED, {"request_id": request_id}
            ).first()
            if reservation is None or reservation.state != "open":
                return False
            holds = self._holds(conn, reservation)
            self._free(conn, holds, lock_counters(conn, holds))
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
                    .where(Reservation.state == "open", Reservation.expires_at < now)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            conn.rollback()
        return sum(self.release(request_id, state="expired") for request_id in stale)

    def status(self, project_id: str, now: datetime | None = None) -> Status:
        return budget_status(self.engine, project_id, self.zone, now or utcnow())
