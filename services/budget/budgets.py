"""The budgets table and its counters: which budgets apply to a call, and the rows a
reservation locks.

Counters are locked one at a time in sorted (budget id, period key) order, so two
transactions that need overlapping counters always queue in the same order and
never deadlock (SELECT ... FOR UPDATE on PostgreSQL; on SQLite, BEGIN IMMEDIATE has
already serialized the writers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update

from services.budget import queries
from services.budget.alerts.events import Crossing
from services.budget.periods import TOTAL, period_key, period_start
from services.budget.reservation_state import ReservationState
from tollgate.db.models import BUDGET_COUNTERS, BUDGETS, RESERVATIONS

DEFAULT_ALERT_AT = (50, 80, 100)
CounterId = tuple[int, str]  # (budget id, period key)


@dataclass(frozen=True)
class BudgetRule:
    id: int
    project_id: str
    key_id: str | None
    period: str  # daily | monthly | total
    amount_nano: int
    hard: bool
    alert_at: tuple[int, ...]

    @property
    def owner(self) -> str:
        return "project" if self.key_id is None else "key"


@dataclass(frozen=True)
class Counter:
    committed_nano: int
    reserved_nano: int


def format_thresholds(percents: Sequence[int]) -> str:
    return ",".join(str(p) for p in percents)


def rule_of(row: Row[Any]) -> BudgetRule:
    return BudgetRule(
        id=row.id,
        project_id=row.project_id,
        key_id=row.key_id,
        period=row.period,
        amount_nano=row.amount_nano,
        hard=bool(row.hard),
        alert_at=tuple(int(p) for p in row.alert_at.split(",") if p),
    )


def budgets_for_call(
    conn: Connection, project_id: str, key_id: str, *, hard_only: bool
) -> list[BudgetRule]:
    """The project's own budgets and the calling key's, in id order."""
    query = queries.HARD_RULES_FOR_CALL if hard_only else queries.RULES_FOR_CALL
    rows = conn.execute(query, {"project_id": project_id, "key_id": key_id})
    return [rule_of(row) for row in rows]


def project_budgets(conn: Connection, project_id: str) -> list[BudgetRule]:
    """Every budget of the project and of its keys, project first, then by period."""
    rows = conn.execute(select(BUDGETS).where(BUDGETS.c.project_id == project_id)).all()
    order = {"daily": 0, "monthly": 1, TOTAL: 2}
    rules = [rule_of(row) for row in rows]
    return sorted(rules, key=lambda r: (r.key_id is not None, r.key_id or "", order[r.period]))


def lock_counters(
    conn: Connection, wanted: Iterable[CounterId], *, create: Iterable[CounterId] = ()
) -> dict[CounterId, Counter]:
    """Lock the counters named, in sorted order; those in `create` are made (at zero)
    when missing. A counter neither found nor created (its budget was deleted) is
    left out of the answer."""
    lock_or_create = queries.LOCK_COUNTER[conn.dialect.name]
    creatable = set(create)
    locked: dict[CounterId, Counter] = {}
    for budget_id, key in sorted(set(wanted) | creatable):
        counter = {"budget_id": budget_id, "period_key": key}
        if (budget_id, key) in creatable:  # one statement makes (at zero) and locks it
            zero = {"committed_nano": 0, "reserved_nano": 0}
            row = conn.execute(lock_or_create, {**counter, **zero}).first()
        else:
            row = conn.execute(queries.COUNTER_LOCKED, counter).first()
        if row is not None:
            locked[(budget_id, key)] = Counter(row.committed_nano, row.reserved_nano)
    return locked


def move(conn: Connection, counter: CounterId, *, committed: int = 0, reserved: int = 0) -> None:
    budget_id, key = counter
    conn.execute(
        queries.MOVE_COUNTER,
        {
            "counter_budget_id": budget_id,
            "counter_period_key": key,
            "add_committed": committed,
            "add_reserved": reserved,
        },
    )


def read_counter(conn: Connection, counter: CounterId) -> Counter:
    budget_id, key = counter
    row = conn.execute(
        select(BUDGET_COUNTERS.c.committed_nano, BUDGET_COUNTERS.c.reserved_nano).where(
            BUDGET_COUNTERS.c.budget_id == budget_id, BUDGET_COUNTERS.c.period_key == key
        )
    ).first()
    return Counter(row.committed_nano, row.reserved_nano) if row else Counter(0, 0)


def put_budget(
    conn: Connection,
    *,
    project_id: str,
    key_id: str | None,
    period: str,
    amount_nano: int,
    hard: bool,
    alert_at: Sequence[int] | None,
    now: datetime,
    zone: Any,
) -> int:
    """Create or change the owner's budget for `period`; its id. A changed budget
    keeps its counters; a new one starts from the owner's settled spend so far in the
    current period, so setting a budget late in the month still counts the month."""
    owner_id = key_id or project_id
    existing = conn.execute(
        select(BUDGETS.c.id, BUDGETS.c.alert_at).where(
            BUDGETS.c.owner_id == owner_id, BUDGETS.c.period == period
        )
    ).first()
    thresholds = format_thresholds(alert_at) if alert_at is not None else None
    if existing is not None:
        conn.execute(
            update(BUDGETS)
            .where(BUDGETS.c.id == existing.id)
            .values(amount_nano=amount_nano, hard=hard, alert_at=thresholds or existing.alert_at)
        )
        return int(existing.id)
    inserted = conn.execute(
        BUDGETS.insert().values(
            project_id=project_id,
            key_id=key_id,
            owner_id=owner_id,
            period=period,
            amount_nano=amount_nano,
            hard=hard,
            alert_at=thresholds or format_thresholds(DEFAULT_ALERT_AT),
            created_at=now,
        )
    ).inserted_primary_key
    assert inserted is not None
    budget_id = inserted[0]
    key = period_key(period, now, zone)
    spent = _settled_since(conn, project_id, key_id, period_start(period, key, zone))
    conn.execute(
        BUDGET_COUNTERS.insert().values(
            budget_id=budget_id, period_key=key, committed_nano=spent, reserved_nano=0
        )
    )
    return int(budget_id)


def _settled_since(
    conn: Connection, project_id: str, key_id: str | None, since: datetime | None
) -> int:
    query = select(func.coalesce(func.sum(RESERVATIONS.c.cost_nano), 0)).where(
        RESERVATIONS.c.project_id == project_id,
        RESERVATIONS.c.state == ReservationState.SETTLED,
    )
    if key_id is not None:
        query = query.where(RESERVATIONS.c.key_id == key_id)
    if since is not None:
        query = query.where(RESERVATIONS.c.created_at >= since.astimezone(UTC))
    return int(conn.execute(query).scalar_one())


def drop_budget(conn: Connection, owner_id: str, period: str) -> bool:
    """Delete the owner's budget for `period` and its counters; False when none.
    Holds against it are left to their reservations, which skip a missing counter."""
    budget_id = conn.execute(
        select(BUDGETS.c.id).where(BUDGETS.c.owner_id == owner_id, BUDGETS.c.period == period)
    ).scalar()
    if budget_id is None:
        return False
    conn.execute(delete(BUDGET_COUNTERS).where(BUDGET_COUNTERS.c.budget_id == budget_id))
    conn.execute(delete(BUDGETS).where(BUDGETS.c.id == budget_id))
    return True


def crossing(rule: BudgetRule, key: str, project: Row[Any], before: int, cost: int) -> Crossing:
    """What charging `cost` to `rule`'s counter `key` (at `before`) crosses, for alerts."""
    return Crossing(
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
