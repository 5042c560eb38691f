"""The statements on Budget's request path (Authorize, Settle, Release), built once:
on SQLite, building a statement costs more than running it. Each is run with its
bound values, e.g. `conn.execute(CALLER, {"key_id": key_id})`."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

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
        _HARD_BUDGET.label("has_hard_budget"),
    )
    .join_from(API_KEYS, PROJECTS, PROJECTS.c.id == API_KEYS.c.project_id)
    .where(API_KEYS.c.id == bindparam("key_id"))
)
RESERVATION = select(RESERVATIONS).where(RESERVATIONS.c.request_id == bindparam("request_id"))
RESERVATION_LOCKED = RESERVATION.with_for_update()
PROJECT = select(PROJECTS).where(PROJECTS.c.id == bindparam("project_id"))
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
# Run with budget_id, period_key, committed_nano and reserved_nano; keeps a counter
# that is already there. One per dialect: ON CONFLICT is dialect syntax.
CREATE_COUNTER = {
    "sqlite": sqlite.insert(BUDGET_COUNTERS).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(BUDGET_COUNTERS).on_conflict_do_nothing(),
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
