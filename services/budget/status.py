"""A project's budgets and their spend in the current period of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from services.budget.budgets import BudgetRule, project_budgets, read_counter
from services.budget.periods import period_key, resets_at
from services.budget.reservation_state import ReservationState
from tollgate.db.models import API_KEYS, PROJECTS, RESERVATIONS


@dataclass(frozen=True)
class Line:
    rule: BudgetRule
    key_name: str
    period_key: str
    committed_nano: int
    reserved_nano: int
    resets_at: datetime | None  # None: a lifetime budget never resets

    @property
    def remaining_nano(self) -> int:
        return max(self.rule.amount_nano - self.committed_nano - self.reserved_nano, 0)


@dataclass(frozen=True)
class Status:
    """The project's monthly figures (its monthly project budget's counter, or its
    settled spend this month when it has none) plus one line per budget."""

    project_id: str
    period: str
    currency: str
    limit_nano: int | None  # the monthly hard project budget, if any
    committed_nano: int
    reserved_nano: int
    lines: tuple[Line, ...] = ()


def budget_status(engine: Engine, project_id: str, zone: ZoneInfo, now: datetime) -> Status:
    month = period_key("monthly", now, zone)
    with engine.connect() as conn:
        project = conn.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).first()
        if project is None:
            raise LookupError(project_id)
        names = dict(
            conn.execute(
                select(API_KEYS.c.id, API_KEYS.c.name).where(API_KEYS.c.project_id == project_id)
            ).all()
        )
        lines = []
        for rule in project_budgets(conn, project_id):
            key = period_key(rule.period, now, zone)
            counter = read_counter(conn, (rule.id, key))
            lines.append(
                Line(
                    rule=rule,
                    key_name=names.get(rule.key_id, "") if rule.key_id else "",
                    period_key=key,
                    committed_nano=counter.committed_nano,
                    reserved_nano=counter.reserved_nano,
                    resets_at=resets_at(rule.period, key, zone),
                )
            )
        monthly = next(
            (ln for ln in lines if ln.rule.key_id is None and ln.rule.period == "monthly"), None
        )
        if monthly is None:
            spent = conn.execute(
                select(func.coalesce(func.sum(RESERVATIONS.c.cost_nano), 0)).where(
                    RESERVATIONS.c.project_id == project_id,
                    RESERVATIONS.c.period == month,
                    RESERVATIONS.c.state == ReservationState.SETTLED,
                )
            ).scalar_one()
        conn.rollback()
    return Status(
        project_id=project_id,
        period=month,
        currency=project.currency,
        limit_nano=monthly.rule.amount_nano if monthly and monthly.rule.hard else None,
        committed_nano=monthly.committed_nano if monthly else int(spent),
        reserved_nano=monthly.reserved_nano if monthly else 0,
        lines=tuple(lines),
    )
