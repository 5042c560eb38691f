"""Reservations: a call's worst-case cost is held against its project's budget before
it reaches an upstream, and replaced by the actual cost when it settles.

Each step is one transaction that first locks the project's spend counter for the
period (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL), so that
"committed + reserved + this call <= hard limit" holds however many budget replicas
decide at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.budget.prices import price_at
from tollgate.db import as_utc, is_sqlite, read_transaction, utcnow
from tollgate.db.models import (
    PROJECTS,
    RESERVATIONS,
    SPEND_COUNTERS,
    ApiKey,
    Reservation,
    SpendCounter,
)
from tollgate.money import Price, cost_nano, format_amount

COUNTERS = SPEND_COUNTERS


class Decision(enum.Enum):
    ALLOWED = "allowed"
    BUDGET_EXCEEDED = "budget_exceeded"
    KEY_REVOKED = "key_revoked"
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
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class Status:
    project_id: str
    period: str
    currency: str
    limit_nano: int | None
    committed_nano: int
    reserved_nano: int


def period_of(at: datetime) -> str:
    return as_utc(at).astimezone(UTC).strftime("%Y-%m")


def next_period_start(period: str) -> datetime:
    year, month = (int(part) for part in period.split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


class Ledger:
    """Reservation and settlement over one database; safe across processes."""

    def __init__(self, engine: Engine, *, usd_to_cny: Decimal, ttl_seconds: float) -> None:
        self.engine = engine
        self.usd_to_cny = usd_to_cny
        self.ttl = timedelta(seconds=ttl_seconds)
        self._insert = sqlite.insert if is_sqlite(engine) else postgresql.insert

    def _locked_counter(self, conn: Connection, project_id: str, period: str) -> Row[Any]:
        conn.execute(
            self._insert(SpendCounter)
            .values(project_id=project_id, period=period, committed_nano=0, reserved_nano=0)
            .on_conflict_do_nothing()
        )
        query = select(COUNTERS).where(
            COUNTERS.c.project_id == project_id, COUNTERS.c.period == period
        )
        return conn.execute(query.with_for_update()).one()

    def _move(
        self, conn: Connection, project_id: str, period: str, *, committed: int, reserved: int
    ) -> None:
        conn.execute(
            update(SpendCounter)
            .where(SpendCounter.project_id == project_id, SpendCounter.period == period)
            .values(
                committed_nano=SpendCounter.committed_nano + committed,
                reserved_nano=SpendCounter.reserved_nano + reserved,
            )
        )

    def _cost(self, price: Price, usage: Usage, currency: str) -> int:
        return cost_nano(
            price,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            currency=currency,
            usd_to_cny=self.usd_to_cny,
        )

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
    ) -> Authorization:
        now = utcnow()
        period = period_of(now)
        with read_transaction(self.engine) as conn:
            key = conn.execute(
                select(ApiKey.project_id, ApiKey.revoked_at).where(ApiKey.id == key_id)
            ).first()
            if key is None or key.revoked_at is not None or key.project_id != project_id:
                return Authorization(Decision.KEY_REVOKED, message="This API key has been revoked.")
            price = price_at(conn, model, now)
            if price is None:
                return Authorization(
                    Decision.MODEL_NOT_PRICED,
                    message=f"The model `{model}` has no price yet, so tollgate cannot bill it. "
                    f"An operator can set one with `tollgate price set {model} ...`.",
                )
            project = conn.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).one()
        output_cap = (max_completion_tokens or price.max_output_tokens) * choices
        amount = self._cost(
            price,
            Usage(prompt_tokens=prompt_tokens, completion_tokens=output_cap),
            project.currency,
        )
        if project.monthly_budget_nano is None:
            # No hard limit: nothing to hold. Settlement prices the call at its start time.
            return Authorization(Decision.ALLOWED, 0, project.currency)
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(RESERVATIONS).where(RESERVATIONS.c.request_id == request_id)
            ).first()
            if existing is not None:  # a repeated Authorize of the same request
                if existing.state != "open":
                    raise ValueError(f"request {request_id} has already finished")
                return Authorization(Decision.ALLOWED, existing.amount_nano, existing.currency)
            counter = self._locked_counter(conn, project_id, period)
            # Read the limit again under the lock: an operator may have just changed it.
            project = conn.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).one()
            limit = project.monthly_budget_nano
            if (
                limit is not None
                and counter.committed_nano + counter.reserved_nano + amount > limit
            ):
                return Authorization(
                    Decision.BUDGET_EXCEEDED,
                    currency=project.currency,
                    message=self._refusal(project, counter, amount, period),
                )
            self._move(conn, project_id, period, committed=0, reserved=amount)
            conn.execute(
                RESERVATIONS.insert().values(
                    request_id=request_id,
                    project_id=project_id,
                    key_id=key_id,
                    model=model,
                    period=period,
                    currency=project.currency,
                    amount_nano=amount,
                    state="open",
                    cost_nano=None,
                    created_at=now,
                    expires_at=now + self.ttl,
                )
            )
            return Authorization(Decision.ALLOWED, amount, project.currency)

    @staticmethod
    def _refusal(project: Row[Any], counter: Row[Any], amount: int, period: str) -> str:
        c = project.currency
        assert project.monthly_budget_nano is not None
        resets = next_period_start(period).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"Project '{project.name}' has reached its monthly budget of "
            f"{c} {format_amount(project.monthly_budget_nano)} for {period}: "
            f"{c} {format_amount(counter.committed_nano)} spent and "
            f"{c} {format_amount(counter.reserved_nano)} held by calls in flight; "
            f"this call may cost up to {c} {format_amount(amount)}. "
            f"The budget resets at {resets}."
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
            query = select(RESERVATIONS).where(RESERVATIONS.c.request_id == request_id)
            reservation = conn.execute(query.with_for_update()).first()
            if reservation is not None and reservation.state == "settled":
                return Settlement(reservation.cost_nano or 0, reservation.currency, True)
            project = conn.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).one()
            priced_at = as_utc(reservation.created_at) if reservation else as_utc(started_at)
            period = reservation.period if reservation else period_of(priced_at)
            price = price_at(conn, model, priced_at)
            cost = self._cost(price, usage, project.currency) if price else 0
            self._locked_counter(conn, project_id, period)
            held = reservation.amount_nano if reservation and reservation.state == "open" else 0
            self._move(conn, project_id, period, committed=cost, reserved=-held)
            if reservation is not None:
                conn.execute(
                    update(Reservation)
                    .where(Reservation.request_id == request_id)
                    .values(state="settled", cost_nano=cost)
                )
            else:  # settled without a reservation (it was never made): remember the answer
                conn.execute(
                    RESERVATIONS.insert().values(
                        request_id=request_id,
                        project_id=project_id,
                        key_id=key_id,
                        model=model,
                        period=period,
                        currency=project.currency,
                        amount_nano=0,
                        state="settled",
                        cost_nano=cost,
                        created_at=priced_at,
                        expires_at=priced_at,
                    )
                )
            return Settlement(cost, project.currency, False)

    def release(self, request_id: str, *, state: str = "released") -> bool:
        """Drop an open reservation without cost; False when it was not open."""
        with self.engine.begin() as conn:
            query = select(RESERVATIONS).where(RESERVATIONS.c.request_id == request_id)
            reservation = conn.execute(query.with_for_update()).first()
            if reservation is None or reservation.state != "open":
                return False
            self._locked_counter(conn, reservation.project_id, reservation.period)
            self._move(
                conn,
                reservation.project_id,
                reservation.period,
                committed=0,
                reserved=-reservation.amount_nano,
            )
            conn.execute(
                update(Reservation).where(Reservation.request_id == request_id).values(state=state)
            )
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
        period = period_of(now or utcnow())
        with self.engine.connect() as conn:
            project = conn.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).first()
            if project is None:
                raise LookupError(project_id)
            counter = conn.execute(
                select(COUNTERS).where(
                    COUNTERS.c.project_id == project_id, COUNTERS.c.period == period
                )
            ).first()
            conn.rollback()
        return Status(
            project_id=project_id,
            period=period,
            currency=project.currency,
            limit_nano=project.monthly_budget_nano,
            committed_nano=counter.committed_nano if counter else 0,
            reserved_nano=counter.reserved_nano if counter else 0,
        )
