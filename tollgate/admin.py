"""Operator actions on projects and keys, shared by the CLI and the admin API.

Each action is one transaction: it either happens whole or not at all. Changes take
effect from the next request: the gateway's key cache is re-checked by Budget on
every call, and budgets and prices are read inside each reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Row, Select, and_, select, update
from sqlalchemy.exc import IntegrityError

from services.budget.budgets import drop_budget, put_budget
from tollgate.db import as_utc, utcnow
from tollgate.db.models import API_KEYS as KEYS
from tollgate.db.models import BUDGETS, PROJECTS
from tollgate.keys import display_prefix, hash_secret, new_id, new_secret
from tollgate.money import (
    check_currency,
    format_amount,
    format_multiplier,
    parse_multiplier,
    to_nano,
)


class AdminError(ValueError):
    """A request an operator can fix; the message says how."""


class NotFound(AdminError):
    """The project or key named does not exist."""


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    name: str
    currency: str
    monthly_budget: str | None  # decimal string
    created_at: datetime
    price_multiplier: str = "1"  # exact decimal string: "1.15" is a 15% markup


@dataclass(frozen=True)
class KeyInfo:
    id: str
    project_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    paused_at: datetime | None = None  # a spike alert paused it until an operator resumes it
    status: str = "active"  # active | paused | revoked (revoked wins over paused)


@dataclass(frozen=True)
class NewKey:
    info: KeyInfo
    secret: str  # shown once, never stored


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


def _zone(zone: ZoneInfo | None) -> ZoneInfo:
    from tollgate.budgets import default_zone

    return zone or default_zone()


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


def _key(row: Row[Any]) -> KeyInfo:
    revoked = None if row.revoked_at is None else as_utc(row.revoked_at)
    paused = None if row.paused_at is None else as_utc(row.paused_at)
    return KeyInfo(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        revoked_at=revoked,
        paused_at=paused,
        status="revoked" if revoked else "paused" if paused else "active",
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
        raise AdminError("project name must not be empty")
    now = utcnow()
    values = {"id": new_id("proj"), "name": name, "currency": check_currency(currency)}
    budget = None if monthly_budget is None else to_nano(monthly_budget)
    try:
        with engine.begin() as conn:
            conn.execute(PROJECTS.insert().values(**values, created_at=now))
            if budget is not None:
                put_budget(
                    conn,
                    project_id=values["id"],
                    key_id=None,
                    period="monthly",
                    amount_nano=budget,
                    hard=True,
                    alert_at=None,
                    now=now,
                    zone=_zone(zone),
                )
    except IntegrityError as exc:
        raise AdminError(f"a project named {name!r} already exists") from exc
    return get_project(engine, name)


def set_monthly_budget(
    engine: Engine, name: str, amount: str | Decimal | None, *, zone: ZoneInfo | None = None
) -> ProjectInfo:
    """Set the project's monthly hard budget, or (None) delete its monthly budget."""
    project = get_project(engine, name)
    nano = None if amount is None else to_nano(amount)
    with engine.begin() as conn:
        if nano is None:
            drop_budget(conn, project.id, "monthly")
        else:
            put_budget(
                conn,
                project_id=project.id,
                key_id=None,
                period="monthly",
                amount_nano=nano,
                hard=True,
                alert_at=None,
                now=utcnow(),
                zone=_zone(zone),
            )
    return get_project(engine, name)


def set_price_multiplier(engine: Engine, name: str, multiplier: str | Decimal) -> ProjectInfo:
    """Multiply the project's costs (1.15: a 15% markup, 0.9: a 10% discount), exact to 9
    decimal places. It applies to calls settled from now on (one in flight included);
    calls already settled keep their cost."""
    project = get_project(engine, name)
    nano = parse_multiplier(multiplier)
    with engine.begin() as conn:
        conn.execute(
            update(PROJECTS).where(PROJECTS.c.id == project.id).values(price_multiplier_nano=nano)
        )
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


def create_key(engine: Engine, project: str, name: str = "") -> NewKey:
    owner = get_project(engine, project)
    secret = new_secret()
    values = {
        "id": new_id("key"),
        "project_id": owner.id,
        "name": name,
        "prefix": display_prefix(secret),
        "key_hash": hash_secret(secret),
        "created_at": utcnow(),
        "revoked_at": None,
    }
    with engine.begin() as conn:
        conn.execute(KEYS.insert().values(**values))
        row = conn.execute(select(KEYS).where(KEYS.c.id == values["id"])).one()
    return NewKey(_key(row), secret)


def list_keys(engine: Engine, project: str) -> list[KeyInfo]:
    owner = get_project(engine, project)
    with engine.connect() as conn:
        rows = conn.execute(
            select(KEYS).where(KEYS.c.project_id == owner.id).order_by(KEYS.c.created_at)
        ).all()
        conn.rollback()
    return [_key(row) for row in rows]


def revoke_key(engine: Engine, key_id: str) -> KeyInfo:
    with engine.begin() as conn:
        row = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).first()
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        if row.revoked_at is None:
            conn.execute(update(KEYS).where(KEYS.c.id == key_id).values(revoked_at=utcnow()))
        row = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).one()
    return _key(row)


def get_key(engine: Engine, key_id: str) -> KeyInfo:
    with engine.connect() as conn:
        row = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).first()
        conn.rollback()
    if row is None:
        raise NotFound(f"no key with id {key_id!r}")
    return _key(row)


def resume_key(engine: Engine, key_id: str) -> tuple[KeyInfo, bool]:
    """Clear a spike alert's pause of a key: (the key now, whether it was paused)."""
    from services.budget.alerts.spikes import resume_key as clear_pause

    was_paused = clear_pause(engine, key_id, utcnow())
    if was_paused is None:
        raise NotFound(f"no key with id {key_id!r}")
    return get_key(engine, key_id), was_paused
