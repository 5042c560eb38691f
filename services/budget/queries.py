"""The statements on Budget's request path (Authorize, Settle, Release), built once:
on SQLite, building a statement costs more than running it. Each is run with its
bound values, e.g. `conn.execute(CALLER, {"key_id": key_id})`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.budget.catalogue import STAMP_COLUMNS
from tollgate.db.models import API_KEYS, BUDGET_COUNTERS, BUDGETS, HOLDS, PROJECTS, RESERVATIONS

# The calling key's project (its row's columns), the key's state, and whether a hard
# budget of the project or of the key applies.
_HARD_BUDGET = (
    select(BUDGETS.c.id)
    .where(
        BUDGETS.c.project_id == API_KEYS.c.project_id,
        or_(BUDGETS.c.key_id.is_(None), BUDGETS.c.key_id == API_KEYS.c.id),
        BUDGETS.c.hard.is_(True),
    )
    .exists()
)
CALLER = (
    select(
        PROJECTS,
        API_KEYS.c.name.label("key_name"),
        API_KEYS.c.revoked_at.label("key_revoked_at"),
        API_KEYS.c.paused_at.label("key_paused_at"),
        API_KEYS.c.expires_at.label("key_expires_at"),
        _HARD_BUDGET.label("has_hard_budget"),
        *STAMP_COLUMNS,
    )
    .join_from(API_KEYS, PROJECTS, PROJECTS.c.id == API_KEYS.c.project_id)
    .where(API_KEYS.c.id == bindparam("key_id"))
)
INSERT_RESERVATION = RESERVATIONS.insert()
INSERT_HOLDS = HOLDS.insert()
RESERVATION = select(RESERVATIONS).where(RESERVATIONS.c.request_id == bindparam("request_id"))
RESERVATION_LOCKED = RESERVATION.with_for_update()
PROJECT = select(PROJECTS).where(PROJECTS.c.id == bindparam("project_id"))
# A batch of Settles (settlement.py), each statement in two forms: for one request
# or project (`id`), and for many (`ids`, an expanding IN, which costs more to run).
# The reservations locked in request id order, each with its holds (one row a hold;
# a reservation without holds has one row with the hold columns NULL).
_RESERVATIONS_AND_HOLDS = (
    select(
        RESERVATIONS,
        HOLDS.c.budget_id.label("hold_budget_id"),
        HOLDS.c.period_key.label("hold_period_key"),
        HOLDS.c.amount_nano.label("hold_nano"),
    )
    .outerjoin(HOLDS, HOLDS.c.request_id == RESERVATIONS.c.request_id)
    .order_by(RESERVATIONS.c.request_id)
    .with_for_update(of=RESERVATIONS)
)
# Each project with the catalogue's stamp and its budgets and its keys' (one row a
# budget, in id order; a project without budgets has one row with them NULL).
_PROJECTS_AND_RULES = (
    select(
        PROJECTS,
        *STAMP_COLUMNS,
        *(column.label(f"rule_{column.name}") for column in BUDGETS.c),
    )
    .outerjoin(BUDGETS, BUDGETS.c.project_id == PROJECTS.c.id)
    .order_by(BUDGETS.c.id)
)


def _one_and_many(statement: Select[Any], column: ColumnElement[Any]) -> tuple[Any, Any]:
    return (
        statement.where(column == bindparam("id")),
        statement.where(column.in_(bindparam("ids", expanding=True))),
    )


RESERVATIONS_AND_HOLDS = _one_and_many(_RESERVATIONS_AND_HOLDS, RESERVATIONS.c.request_id)
PROJECTS_AND_RULES = _one_and_many(_PROJECTS_AND_RULES, PROJECTS.c.id)
DELETE_HOLDS_OF = _one_and_many(delete(HOLDS), HOLDS.c.request_id)  # type: ignore[arg-type]
HOLDS_OF = select(HOLDS.c.budget_id, HOLDS.c.period_key, HOLDS.c.amount_nano).where(
    HOLDS.c.request_id == bindparam("request_id")
)
DELETE_HOLDS = delete(HOLDS).where(HOLDS.c.request_id == bindparam("request_id"))
# Bound names differ from the columns': an UPDATE reserves those for its SET clause.
FINISH = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.request_id == bindparam("finished_id"))
    .values(state=bindparam("new_state"), cost_nano=bindparam("new_cost"))
)
RELEASE = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.request_id == bindparam("finished_id"))
    .values(state=bindparam("new_state"))
)

# Budgets and their counters (services/budget/budgets.py).
_RULES = select(BUDGETS).where(
    BUDGETS.c.project_id == bindparam("project_id"),
    or_(BUDGETS.c.key_id.is_(None), BUDGETS.c.key_id == bindparam("key_id")),
)
RULES_FOR_CALL = _RULES.order_by(BUDGETS.c.id)
HARD_RULES_FOR_CALL = _RULES.where(BUDGETS.c.hard.is_(True)).order_by(BUDGETS.c.id)
COUNTER_LOCKED = (
    select(BUDGET_COUNTERS.c.committed_nano, BUDGET_COUNTERS.c.reserved_nano)
    .where(
        BUDGET_COUNTERS.c.budget_id == bindparam("budget_id"),
        BUDGET_COUNTERS.c.period_key == bindparam("period_key"),
    )
    .with_for_update()
)


# Run with budget_id, period_key, committed_nano and reserved_nano; one per dialect
# (ON CONFLICT is dialect syntax). ADD_TO_COUNTER adds the amounts to the counter (or
# makes it with them), LOCK_COUNTER locks it (or makes it at zero), each answering the
# counter as it then stands: one statement where a create, a SELECT ... FOR UPDATE
# (and an UPDATE) were. ON CONFLICT DO UPDATE locks the row on PostgreSQL as FOR
# UPDATE does.
def _upsert(insert: Any, add: bool) -> Any:
    new = insert.excluded
    counter = BUDGET_COUNTERS.c
    values = (
        {
            "committed_nano": counter.committed_nano + new.committed_nano,
            "reserved_nano": counter.reserved_nano + new.reserved_nano,
        }
        if add
        else {"committed_nano": counter.committed_nano}
    )
    return insert.on_conflict_do_update(
        index_elements=[counter.budget_id, counter.period_key], set_=values
    ).returning(counter.committed_nano, counter.reserved_nano)


ADD_TO_COUNTER = {
    "sqlite": _upsert(sqlite.insert(BUDGET_COUNTERS), add=True),
    "postgresql": _upsert(postgresql.insert(BUDGET_COUNTERS), add=True),
}
LOCK_COUNTER = {
    "sqlite": _upsert(sqlite.insert(BUDGET_COUNTERS), add=False),
    "postgresql": _upsert(postgresql.insert(BUDGET_COUNTERS), add=False),
}
MOVE_COUNTER = (
    update(BUDGET_COUNTERS)
    .where(
        BUDGET_COUNTERS.c.budget_id == bindparam("counter_budget_id"),
        BUDGET_COUNTERS.c.period_key == bindparam("counter_period_key"),
    )
    .values(
        committed_nano=BUDGET_COUNTERS.c.committed_nano + bindparam("add_committed"),
        reserved_nano=BUDGET_COUNTERS.c.reserved_nano + bindparam("add_reserved"),
    )
)
# MOVE_COUNTER answering the counter as it then stands (no row: the counter is gone).
MOVE_COUNTER_RETURNING = MOVE_COUNTER.returning(
    BUDGET_COUNTERS.c.committed_nano, BUDGET_COUNTERS.c.reserved_nano
)
