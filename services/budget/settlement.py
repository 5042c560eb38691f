"""Settlement: a call's actual cost replaces its hold, and counts against every budget
in force in the period the call started.

Many calls settle in one transaction (`settle_many`; Settle is a batch of one), each
exactly as it would settle alone, in the order given: it frees what its reservation
holds, commits its cost, and records the alert thresholds its cost crosses; a request
settled before, or earlier in the same batch, is `already_settled` with the first cost.

The transaction locks what it moves before moving it: first the reservations, by
request id, then every budget counter the batch touches, in the one sorted (budget id,
period key) order every Authorize, Settle and Release locks them in (budgets.py), so
batches and single calls on many replicas queue and never deadlock. Each counter is
then updated once, by the sum of the batch's moves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row

from services.budget import alerts, queries
from services.budget.alerts.events import Crossing
from services.budget.budgets import (
    BudgetRule,
    CounterId,
    crossing,
)
from services.budget.catalogue import catalogue, no_prices, stamp_of
from services.budget.holds import Pricing, Usage
from services.budget.periods import period_key
from services.budget.reference import NO_TERMS, SettleTerms, reference_nano
from services.budget.reservation_state import ReservationState
from tollgate.db import as_utc, utcnow


@dataclass(frozen=True)
class Settlement:
    cost_nano: int
    currency: str
    already_settled: bool
    reference_nano: int = 0  # see reference.py; the cost when there is no reference


@dataclass(frozen=True)
class SettleCall:
    """One Settle: a call's usage, priced at the price in force when it started."""

    request_id: str
    project_id: str
    key_id: str
    model: str
    usage: Usage
    started_at: datetime
    terms: SettleTerms = NO_TERMS


@dataclass(frozen=True)
class Rates:
    """What settlement prices and dates with: the exchange rate and the budget zone."""

    usd_to_cny: Decimal
    zone: ZoneInfo


@dataclass
class _Reservation:
    """A reservation as the batch has left it so far (its row, or one the batch made)."""

    state: str
    cost_nano: int | None
    currency: str
    created_at: datetime
    batch_id: str


@dataclass
class _Plan:
    """The batch's writes, gathered while each call is priced in order."""

    freed: dict[CounterId, int] = field(default_factory=lambda: defaultdict(int))
    # Each charge in the order it happens: (counter, its rule, the project, cost).
    charges: list[tuple[CounterId, BudgetRule, Row[Any], int]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    inserted: list[dict[str, Any]] = field(default_factory=list)
    holds_dropped: list[str] = field(default_factory=list)


def settle_many(engine: Engine, calls: Sequence[SettleCall], rates: Rates) -> list[Settlement]:
    """Settle `calls` in one transaction, in order; one Settlement each."""
    if not calls:
        return []
    with engine.begin() as conn:
        batch = _Batch(conn, calls, rates)
        answers = [batch.price(call) for call in calls]
        batch.write()
        return answers


class _Batch:
    def __init__(self, conn: Connection, calls: Sequence[SettleCall], rates: Rates) -> None:
        self.conn = conn
        self.rates = rates
        self.plan = _Plan()
        ids = sorted({call.request_id for call in calls})
        self.reservations: dict[str, _Reservation] = {}
        self.holds: dict[str, dict[CounterId, int]] = defaultdict(dict)
        for row in _by_ids(conn, queries.RESERVATIONS_AND_HOLDS, ids):
            self.reservations.setdefault(row.request_id, _reservation(row))
            if row.hold_budget_id is not None and row.state == ReservationState.OPEN:
                counter = (row.hold_budget_id, row.hold_period_key)
                self.holds[row.request_id][counter] = row.hold_nano
        self.projects: dict[str, Row[Any]] = {}
        self.rules: dict[str, list[BudgetRule]] = defaultdict(list)
        project_ids = sorted({call.project_id for call in calls})
        stamp = None
        for row in _by_ids(conn, queries.PROJECTS_AND_RULES, project_ids):
            self.projects.setdefault(row.id, row)
            stamp = stamp_of(row)
            if row.rule_id is not None:
                self.rules[row.id].append(_rule(row))
        self.prices = catalogue(conn, stamp).at if stamp else no_prices

    def price(self, call: SettleCall) -> Settlement:
        """What `call` costs and what settling it moves (recorded in the plan)."""
        rates, terms = self.rates, call.terms
        project = self.projects.get(call.project_id)
        if project is None:
            raise LookupError(f"no project {call.project_id!r}")
        reservation = self.reservations.get(call.request_id)
        priced_at = reservation.created_at if reservation else as_utc(call.started_at)
        if reservation is not None and reservation.batch_id and not terms.batch:
            terms = replace(terms, batch_id=reservation.batch_id)  # held as a line
        pricing = Pricing(project, rates.usd_to_cny, batch=terms.batch)
        whole = Pricing(project, rates.usd_to_cny).cost  # a reference's: never batch
        model, usage = call.model, call.usage
        if reservation is not None and reservation.state == ReservationState.SETTLED:
            first = reservation.cost_nano or 0  # the reference is priced again, alike
            reference = reference_nano(self.prices, terms, (model, usage, first), priced_at, whole)
            return Settlement(first, reservation.currency, True, reference)
        price = self.prices(model, priced_at)
        cost = pricing.cost(price, usage, terms.fraction) if price else 0
        reference = reference_nano(self.prices, terms, (model, usage, cost), priced_at, whole)
        self._record(call, project, reservation, (priced_at, terms, cost))
        return Settlement(cost, project.currency, False, reference)

    def _record(
        self,
        call: SettleCall,
        project: Row[Any],
        reservation: _Reservation | None,
        priced: tuple[datetime, SettleTerms, int],
    ) -> None:
        priced_at, terms, cost = priced
        plan = self.plan
        if reservation is not None and reservation.state == ReservationState.OPEN:
            holds = self.holds.pop(call.request_id, {})
            for counter_id, amount in holds.items():
                plan.freed[counter_id] += amount
            plan.holds_dropped.append(call.request_id)
        # The cost counts against every budget in force, in the period the call started.
        for rule in self._rules_for(call) if cost else ():
            counter_id = (rule.id, period_key(rule.period, priced_at, self.rates.zone))
            plan.charges.append((counter_id, rule, project, cost))
        if reservation is not None:
            plan.finished.append(
                {
                    "finished_id": call.request_id,
                    "new_state": ReservationState.SETTLED,
                    "new_cost": cost,
                }
            )
            reservation.state, reservation.cost_nano = ReservationState.SETTLED, cost
            return
        # Settled without a reservation (it was never made): remember the answer.
        plan.inserted.append(
            {
                "request_id": call.request_id,
                "project_id": call.project_id,
                "key_id": call.key_id,
                "model": call.model,
                "period": period_key("monthly", priced_at, self.rates.zone),
                "currency": project.currency,
                "amount_nano": 0,
                "state": ReservationState.SETTLED,
                "cost_nano": cost,
                "created_at": priced_at,
                "expires_at": priced_at,
                "batch_id": terms.batch_id,
            }
        )
        self.reservations[call.request_id] = _Reservation(
            ReservationState.SETTLED, cost, project.currency, priced_at, terms.batch_id
        )

    def _rules_for(self, call: SettleCall) -> list[BudgetRule]:
        """The project's own budgets and the calling key's, in id order."""
        rules = self.rules.get(call.project_id, [])
        return [rule for rule in rules if rule.key_id is None or rule.key_id == call.key_id]

    def write(self) -> None:
        """Move each counter the plan moves once, by the sum of its moves, in sorted
        order (creating those charged; a deleted budget's counter is gone: skipped);
        finish the reservations; record the alerts crossed."""
        conn, plan = self.conn, self.plan
        moves: dict[CounterId, list[int]] = defaultdict(lambda: [0, 0])
        for counter_id, amount in plan.freed.items():
            moves[counter_id][1] -= amount
        for counter_id, _, _, cost in plan.charges:
            moves[counter_id][0] += cost
        charged = {counter_id for counter_id, *_ in plan.charges}
        spent_before = {}
        for counter_id, (committed, reserved) in sorted(moves.items()):
            after = _move(conn, counter_id, (committed, reserved), create=counter_id in charged)
            if after is not None:
                spent_before[counter_id] = after - committed
        crossings = _crossings(plan.charges, spent_before)
        if plan.holds_dropped:
            _by_ids(conn, queries.DELETE_HOLDS_OF, plan.holds_dropped)
        if plan.finished:
            conn.execute(queries.FINISH, plan.finished)
        if plan.inserted:
            conn.execute(queries.INSERT_RESERVATION, plan.inserted)
        if crossings:
            alerts.record_crossings(conn, crossings, utcnow())


def _by_ids(conn: Connection, statements: tuple[Any, Any], ids: Sequence[str]) -> Any:
    """Run the one-id or the many-ids form of a statement (queries.py)."""
    one, many = statements
    return conn.execute(one, {"id": ids[0]}) if len(ids) == 1 else conn.execute(many, {"ids": ids})


def _move(
    conn: Connection, counter_id: CounterId, amounts: tuple[int, int], *, create: bool
) -> int | None:
    """Add (committed, reserved) to a counter (made first when `create` and missing);
    its committed spend after, or None when it is gone."""
    (budget_id, key), (committed, reserved) = counter_id, amounts
    row: Row[Any] | None
    if create:
        row = conn.execute(
            queries.ADD_TO_COUNTER[conn.dialect.name],
            {
                "budget_id": budget_id,
                "period_key": key,
                "committed_nano": committed,
                "reserved_nano": reserved,
            },
        ).one()
    else:
        row = conn.execute(
            queries.MOVE_COUNTER_RETURNING,
            {
                "counter_budget_id": budget_id,
                "counter_period_key": key,
                "add_committed": committed,
                "add_reserved": reserved,
            },
        ).first()
    return None if row is None else int(row.committed_nano)


def _crossings(
    charges: list[tuple[CounterId, BudgetRule, Row[Any], int]], spent_before: dict[CounterId, int]
) -> list[Crossing]:
    """What each charge crosses, in order, each counter's spend running on from what it
    was before the batch."""
    spent = dict(spent_before)
    found = []
    for counter_id, rule, project, cost in charges:
        before = spent[counter_id]
        found.append(crossing(rule, counter_id[1], project, before, cost))
        spent[counter_id] = before + cost
    return found


def _rule(row: Row[Any]) -> BudgetRule:
    """A budget from its `rule_`-labelled columns (queries.PROJECTS_AND_RULES)."""
    return BudgetRule(
        id=row.rule_id,
        project_id=row.rule_project_id,
        key_id=row.rule_key_id,
        period=row.rule_period,
        amount_nano=row.rule_amount_nano,
        hard=bool(row.rule_hard),
        alert_at=tuple(int(p) for p in row.rule_alert_at.split(",") if p),
    )


def _reservation(row: Row[Any]) -> _Reservation:
    return _Reservation(
        row.state, row.cost_nano, row.currency, as_utc(row.created_at), row.batch_id
    )
