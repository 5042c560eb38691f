"""Alert events with their webhook deliveries, newest first: what `tollgate alert list`
and GET /admin/alerts show."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from tollgate import admin
from tollgate.db import as_utc
from tollgate.db.models import ALERT_DELIVERIES, ALERT_EVENTS, PROJECTS
from tollgate.money import format_amount


def _iso(value: Any) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def _state(done: bool, webhooks: set[str], delivered: set[str]) -> str:
    if not done:
        return "pending"
    if not webhooks:
        return "no webhooks"
    return "delivered" if webhooks <= delivered else "failed"


def list_alerts(engine: Engine, project: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest events first, each with its delivery attempts."""
    query = (
        select(ALERT_EVENTS, PROJECTS.c.name.label("project_name"))
        .select_from(ALERT_EVENTS.outerjoin(PROJECTS, PROJECTS.c.id == ALERT_EVENTS.c.project_id))
        .order_by(ALERT_EVENTS.c.id.desc())
        .limit(limit)
    )
    if project:
        query = query.where(ALERT_EVENTS.c.project_id == admin.get_project(engine, project).id)
    with engine.connect() as conn:
        events = conn.execute(query).all()
        attempts = conn.execute(
            select(ALERT_DELIVERIES)
            .where(ALERT_DELIVERIES.c.event_id.in_([e.id for e in events]))
            .order_by(ALERT_DELIVERIES.c.id)
        ).all()
        conn.rollback()
    by_event: dict[int, list[Any]] = defaultdict(list)
    for attempt in attempts:
        by_event[attempt.event_id].append(attempt)
    listed = []
    for e in events:
        tries = by_event[e.id]
        listed.append(
            {
                "id": e.id,
                "kind": e.kind,
                "project": e.project_name or e.project_id,
                "key_id": e.key_id,
                "budget_id": e.budget_id,
                "period": e.period,
                "period_key": e.period_key,
                "threshold": e.threshold,
                "amount": format_amount(e.amount_nano),
                "limit": None if e.limit_nano is None else format_amount(e.limit_nano),
                "currency": e.currency,
                "message": e.message,
                "created_at": _iso(e.created_at),
                "state": _state(
                    e.done_at is not None,
                    {t.webhook for t in tries},
                    {t.webhook for t in tries if t.delivered_at is not None},
                ),
                "attempts": [
                    {
                        "webhook": t.target,
                        "attempt": t.attempt,
                        "status_code": t.status_code,
                        "error": t.error,
                        "attempted_at": _iso(t.attempted_at),
                        "delivered": t.delivered_at is not None,
                    }
                    for t in tries
                ],
            }
        )
    return listed
