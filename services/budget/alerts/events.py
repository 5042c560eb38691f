"""Alert events: what crossed, recorded once.

An event is unique per (kind, subject, period key, threshold); inserts skip a
duplicate (`ON CONFLICT DO NOTHING`), so budget replicas racing to record the same
crossing leave exactly one row, and the delivery worker finds it there.

A threshold the spend had already passed when its budget was set (or lowered below
the spend) is never crossed by a settlement; it is recorded at the next settlement
instead. So that settlements past a threshold do not each write again, a process
remembers which thresholds of which budget and period it has recorded (or found
recorded): after the first, such settlements write nothing. (A threshold a settlement
crosses is always written, so a settlement rolled back and retried still records it.)"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, select
from sqlalchemy.dialects import postgresql, sqlite

from tollgate.db.models import ALERT_EVENTS, PROJECTS
from tollgate.money import format_amount


@dataclass(frozen=True)
class Crossing:
    """Committed spend of one budget in one period moved from `before_nano` to `after_nano`."""

    budget_id: int
    project_id: str
    key_id: str | None
    period: str  # daily | monthly | total
    period_key: str  # e.g. 2026-11-30, 2026-11, total
    limit_nano: int
    currency: str
    thresholds: Sequence[int]  # percents, e.g. (50, 80, 100)
    before_nano: int
    after_nano: int
    project_name: str = ""  # for the message; looked up when empty


def crossed(crossing: Crossing) -> list[int]:
    """The thresholds t (percent) with before < t% of the limit <= after, in integers:
    100 * before < t * limit <= 100 * after."""
    low, high = 100 * crossing.before_nano, 100 * crossing.after_nano
    return sorted(
        {t for t in crossing.thresholds if t > 0 and low < t * crossing.limit_nano <= high}
    )


def reached(crossing: Crossing) -> list[int]:
    """Every threshold t (percent) the spend after the settlement has reached:
    t% of the limit <= after, in integers as `crossed`."""
    high = 100 * crossing.after_nano
    return sorted({t for t in crossing.thresholds if t > 0 and t * crossing.limit_nano <= high})


# (database, budget id, period key, threshold) recorded by this process, or found
# recorded; bounded: when full it starts again, costing one skipped insert a threshold.
RecordedKey = tuple[str, int, str, int]
_recorded: set[RecordedKey] = set()
_recorded_lock = threading.Lock()
MAX_REMEMBERED = 100_000


def _due(conn: Connection, crossing: Crossing) -> list[tuple[int, RecordedKey]]:
    """The thresholds to record now: those this settlement crossed, and those reached
    before it that this process has not recorded yet (a budget set below the spend)."""
    thresholds = reached(crossing)
    if not thresholds:
        return []
    database = str(conn.engine.url)
    just_crossed = set(crossed(crossing))
    due = []
    for threshold in thresholds:
        key = (database, crossing.budget_id, crossing.period_key, threshold)
        if threshold in just_crossed or key not in _recorded:
            due.append((threshold, key))
    return due


def _remember(keys: Sequence[RecordedKey]) -> None:
    with _recorded_lock:
        if len(_recorded) + len(keys) > MAX_REMEMBERED:
            _recorded.clear()
        _recorded.update(keys)


def threshold_message(crossing: Crossing, threshold: int, project_name: str) -> str:
    owner = (
        f"key {crossing.key_id} of project {project_name}"
        if crossing.key_id
        else (f"project {project_name}")
    )
    cur = crossing.currency
    return (
        f"tollgate budget alert: {owner} reached {threshold}% of its {crossing.period} budget "
        f"({crossing.period_key}): {cur} {format_amount(crossing.after_nano)} spent "
        f"of {cur} {format_amount(crossing.limit_nano)}"
    )


def insert_event(conn: Connection, row: dict[str, Any]) -> int | None:
    """Insert one event unless its (kind, subject, period key, threshold) exists; the
    new event's id, or None when it was there already."""
    stmt: Insert
    if conn.dialect.name == "sqlite":
        stmt = sqlite.insert(ALERT_EVENTS).values(**row).on_conflict_do_nothing()
    else:
        stmt = postgresql.insert(ALERT_EVENTS).values(**row).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports no row count for this statement.
    return conn.execute(stmt.returning(ALERT_EVENTS.c.id)).scalar()


def event_row(now: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "budget_id": None,
        "key_id": None,
        "limit_nano": None,
        "baseline_nano": None,
        **fields,
        "created_at": now,
        "next_attempt_at": now,
    }


def record_crossings(conn: Connection, crossings: Sequence[Crossing], now: datetime) -> None:
    """Record, inside the caller's transaction, an alert for each threshold crossed
    (or reached before its budget was set: see the module's docstring); a threshold
    already recorded for that budget and period is not recorded again."""
    for crossing in crossings:
        due = _due(conn, crossing)
        if not due:
            continue  # the common case: no statement at all
        name = crossing.project_name or _project_name(conn, crossing.project_id)
        for threshold, _ in due:
            insert_event(
                conn,
                event_row(
                    now,
                    kind="threshold",
                    subject=f"budget:{crossing.budget_id}",
                    budget_id=crossing.budget_id,
                    project_id=crossing.project_id,
                    key_id=crossing.key_id,
                    period=crossing.period,
                    period_key=crossing.period_key,
                    threshold=threshold,
                    limit_nano=crossing.limit_nano,
                    amount_nano=crossing.after_nano,
                    currency=crossing.currency,
                    message=threshold_message(crossing, threshold, name),
                ),
            )
        _remember([key for _, key in due])


def record_operator_alert(
    conn: Connection, subject: str, project_id: str, message: str, now: datetime
) -> bool:
    """Record an alert for operators (e.g. a usage record metering set aside), once per
    subject; False when that subject had alerted already."""
    row = event_row(
        now,
        kind="operator",
        subject=subject[:80],
        project_id=project_id[:40],
        period="operator",
        period_key="",
        threshold=0,
        amount_nano=0,
        currency="",
        message=message[:1000],
    )
    return insert_event(conn, row) is not None


def _project_name(conn: Connection, project_id: str) -> str:
    name = conn.execute(select(PROJECTS.c.name).where(PROJECTS.c.id == project_id)).scalar()
    return str(name) if name is not None else project_id
