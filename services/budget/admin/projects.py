"""Projects: create, look up, list, and set a project's monthly budget and price
multiplier. Changes take effect from the next request: budgets and prices are read
inside each reservation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row, Select, and_, select, update
from sqlalchemy.exc import IntegrityError

from services.budget.admin.audit_log import Target, audited, record, snapshot
from services.budget.admin.errors import AdminError, AlreadyExists, NotFound, checked
from services.budget.admin.zone import default_zone
from services.budget.budgets import drop_budget, put_budget
from tollgate.db import as_utc, utcnow
from tollgate.db.models import BUDGETS, PROJECTS
from tollgate.keys import new_id
from tollgate.money import (
    check_currency,
    format_amount,
    format_multiplier,
    parse_multiplier,
    to_nano,
)


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    name: str
    currency: str
    monthly_budget: str | None  # decimal string
    created_at: datetime
    price_multiplier: str = "1"  # exact decimal string: "1.15" is a 15% markup


def _projects() -> Select[Any]:
    """Projects with their monthly hard project budget, the one `monthly_budget` shows."""
    monthly = and_(
        BUDGETS.c.owner_id == PROJECTS.c.id,
        BUDGETS.c.period == "monthly",
        BUDGETS.c.hard.is_(True),
    )
    return select(PROJECTS, BUDGETS.c.amount_nano.label("monthly_budget_nano")).select_from(
        PROJECTS.outerjoin(BUDGETS, monthly)
    )


def _project(row: Row[Any]) -> ProjectInfo:
    budget = row.monthly_budget_nano
    return ProjectInfo(
        id=row.id,
        name=row.name,
        currency=row.currency,
        monthly_budget=None if budget is None else format_amount(budget),
        created_at=as_utc(row.created_at),
        price_multiplier=format_multiplier(row.price_multiplier_nano),
    )


def _monthly(conn: Connection, project_id: str, nano: int | None, zone: ZoneInfo | None) -> None:
    if nano is None:
        drop_budget(conn, project_id, "monthly")
        return
    put_budget(
        conn,
        project_id=project_id,
        key_id=None,
        period="monthly",
        amount_nano=nano,
        hard=True,
        alert_at=None,
        now=utcnow(),
        zone=zone or default_zone(),
    )


def create_project(
    engine: Engine,
    name: str,
    *,
    currency: str = "CNY",
    monthly_budget: str | Decimal | None = None,
    zone: ZoneInfo | None = None,
) -> ProjectInfo:
    """A new project; `monthly_budget` gives it a monthly hard project budget."""
    name = name.strip()
    if not name:
        raise AdminError("project name must not be empty", "name")
    values = {
        "id": new_id("proj"),
        "name": name,
        "currency": checked("currency", check_currency, currency),
    }
    budget = None if monthly_budget is None else checked("monthly_budget", to_nano, monthly_budget)
    try:
        with engine.begin() as conn:
            conn.execute(PROJECTS.insert().values(**values, created_at=utcnow()))
            if budget is not None:
                _monthly(conn, values["id"], budget, zone)
            after = snapshot(conn, PROJECTS, PROJECTS.c.id == values["id"])
            assert after is not None
            after["monthly_budget"] = None if budget is None else format_amount(budget)
            record(conn, "project.create", Target("project", name, values["id"]), None, after)
    except IntegrityError as exc:
        raise AlreadyExists(f"a project named {name!r} already exists", "name") from exc
    return get_project(engine, name)


def set_monthly_budget(
    engine: Engine, name: str, amount: str | Decimal | None, *, zone: ZoneInfo | None = None
) -> ProjectInfo:
    """Set the project's monthly hard budget, or (None) delete its monthly budget."""
    nano = None if amount is None else checked("monthly_budget", to_nano, amount)
    project = get_project(engine, name)
    action = "budget.delete" if nano is None else "budget.set"
    target = Target("budget", f"{project.name}/monthly", project.id)
    where = (BUDGETS.c.owner_id == project.id, BUDGETS.c.period == "monthly")
    with engine.begin() as conn, audited(conn, action, target, BUDGETS, *where):
        _monthly(conn, project.id, nano, zone)
    return get_project(engine, name)


def set_price_multiplier(engine: Engine, name: str, multiplier: str | Decimal) -> ProjectInfo:
    """Multiply the project's costs (1.15: a 15% markup, 0.9: a 10% discount), exact to 9
    decimal places. It applies to calls settled from now on (one in flight included);
    calls already settled keep their cost."""
    nano = checked("price_multiplier", parse_multiplier, multiplier)
    project = get_project(engine, name)
    target = Target("multiplier", project.name, project.id)
    where = PROJECTS.c.id == project.id
    with engine.begin() as conn, audited(conn, "project.multiplier", target, PROJECTS, where):
        conn.execute(update(PROJECTS).where(where).values(price_multiplier_nano=nano))
    return get_project(engine, name)


def get_project(engine: Engine, name_or_id: str) -> ProjectInfo:
    with engine.connect() as conn:
        row = conn.execute(
            _projects().where((PROJECTS.c.name == name_or_id) | (PROJECTS.c.id == name_or_id))
        ).first()
        conn.rollback()
    if row is None:
        raise NotFound(f"no project named {name_or_id!r}")
    return _project(row)


def list_projects(engine: Engine) -> list[ProjectInfo]:
    with engine.connect() as conn:
        rows = conn.execute(_projects().order_by(PROJECTS.c.name)).all()
        conn.rollback()
    return [_project(row) for row in rows]
