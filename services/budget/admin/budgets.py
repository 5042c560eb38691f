"""Budgets of projects and keys: set, list with their spend this period, delete.

Each action checks its input first and then writes in one transaction: bad input
(an unknown project, a key of another project, a negative amount, bad thresholds)
writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from services.budget.admin.audit_log import Target, audited
from services.budget.admin.errors import AdminError, NotFound, checked
from services.budget.admin.projects import get_project, list_projects
from services.budget.admin.zone import default_zone
from services.budget.budgets import drop_budget, put_budget
from services.budget.periods import PERIODS, describe_reset
from services.budget.status import Line, budget_status
from tollgate.db import utcnow
from tollgate.db.models import API_KEYS, BUDGETS
from tollgate.money import format_amount, to_nano

__all__ = [
    "BudgetError",
    "BudgetInfo",
    "check_period",
    "default_zone",
    "delete_budget",
    "list_budgets",
    "parse_thresholds",
    "set_budget",
]


class BudgetError(AdminError):
    """Bad budget input; the message says what to fix."""


@dataclass(frozen=True)
class BudgetInfo:
    project: str
    owner: str  # project | key
    key_id: str | None
    key_name: str
    period: str
    period_key: str
    hard: bool
    currency: str
    amount: str
    spent: str
    reserved: str
    remaining: str
    alert_at: tuple[int, ...]
    resets: str  # "2026-12-01 00:00 Asia/Shanghai" or "never"
    resets_at: str | None = None  # ISO 8601 in the budget time zone; None: never


def parse_thresholds(text: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """`50,80,100` -> (50, 80, 100): whole percents from 1 to 1000, rising."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        percents = tuple(int(str(p).strip()) for p in parts)
    except ValueError:
        raise BudgetError(
            f"alert thresholds must be whole percents such as 50,80,100, not {text!r}", "alert_at"
        ) from None
    if not percents or any(not 1 <= p <= 1000 for p in percents):
        raise BudgetError(
            f"alert thresholds must be percents from 1 to 1000, not {text!r}", "alert_at"
        )
    if list(percents) != sorted(set(percents)):
        raise BudgetError(f"alert thresholds must rise without repeats, not {text!r}", "alert_at")
    return percents


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise BudgetError(f"period must be one of {', '.join(PERIODS)}, not {period!r}", "period")
    return period


def _owner(engine: Engine, project: str, key_id: str | None) -> tuple[str, str | None]:
    """(project id, key id): the key must belong to the project."""
    owner = get_project(engine, project)
    if key_id is None:
        return owner.id, None
    with engine.connect() as conn:
        key_project = conn.execute(
            select(API_KEYS.c.project_id).where(API_KEYS.c.id == key_id)
        ).scalar()
        conn.rollback()
    if key_project is None:
        raise NotFound(f"no key with id {key_id!r}")
    if key_project != owner.id:
        raise BudgetError(f"key {key_id!r} does not belong to project {owner.name!r}", "key_id")
    return owner.id, key_id


def set_budget(
    engine: Engine,
    project: str,
    *,
    period: str,
    amount: str | Decimal,
    key_id: str | None = None,
    hard: bool = True,
    alert_at: str | Sequence[int] | None = None,
    zone: ZoneInfo | None = None,
) -> BudgetInfo:
    """Create or change a budget of a project (or of one of its keys) for a period."""
    check_period(period)
    nano = checked("amount", to_nano, amount)
    thresholds = parse_thresholds(alert_at)
    project_id, key = _owner(engine, project, key_id)
    zone = zone or default_zone()
    target, where = _audit_target(engine, project, project_id, key, period)
    with engine.begin() as conn, audited(conn, "budget.set", target, BUDGETS, *where):
        put_budget(
            conn,
            project_id=project_id,
            key_id=key,
            period=period,
            amount_nano=nano,
            hard=hard,
            alert_at=thresholds,
            now=utcnow(),
            zone=zone,
        )
    (shown,) = [
        b
        for b in list_budgets(engine, project_id, zone=zone)
        if b.key_id == key and b.period == period
    ]
    return shown


def delete_budget(engine: Engine, project: str, *, period: str, key_id: str | None = None) -> bool:
    """Delete a budget; False when there was none."""
    check_period(period)
    project_id, key = _owner(engine, project, key_id)
    target, where = _audit_target(engine, project, project_id, key, period)
    with engine.begin() as conn, audited(conn, "budget.delete", target, BUDGETS, *where):
        return drop_budget(conn, key or project_id, period)


def _audit_target(
    engine: Engine, project: str, project_id: str, key_id: str | None, period: str
) -> tuple[Target, tuple[Any, ...]]:
    """What the audit log names a budget by, and its row."""
    name = get_project(engine, project).name
    shown = f"{name}/key/{key_id}/{period}" if key_id else f"{name}/{period}"
    where = (BUDGETS.c.owner_id == (key_id or project_id), BUDGETS.c.period == period)
    return Target("budget", shown, project_id), where


def list_budgets(
    engine: Engine, project: str | None = None, *, zone: ZoneInfo | None = None
) -> list[BudgetInfo]:
    """Budgets of one project (or of all), with their spend in the current period."""
    projects = [get_project(engine, project)] if project else list_projects(engine)
    zone = zone or default_zone()
    now = utcnow()
    shown: list[BudgetInfo] = []
    for p in projects:
        status = budget_status(engine, p.id, zone, now)
        shown.extend(_info(p.name, status.currency, line) for line in status.lines)
    return shown


def _info(project: str, currency: str, line: Line) -> BudgetInfo:
    rule = line.rule
    return BudgetInfo(
        project=project,
        owner=rule.owner,
        key_id=rule.key_id,
        key_name=line.key_name,
        period=rule.period,
        period_key=line.period_key,
        hard=rule.hard,
        currency=currency,
        amount=format_amount(rule.amount_nano),
        spent=format_amount(line.committed_nano),
        reserved=format_amount(line.reserved_nano),
        remaining=format_amount(line.remaining_nano),
        alert_at=rule.alert_at,
        resets=describe_reset(line.resets_at),
        resets_at=None if line.resets_at is None else line.resets_at.isoformat(),
    )
