"""Alert events with their webhook deliveries, newest first (what `tollgate alert list`
and GET /admin/alerts show), the webhooks configured, and a test alert sent now."""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select

from services.budget.admin.errors import AdminError
from services.budget.admin.projects import get_project
from services.budget.alerts.delivery import deliver_event
from services.budget.alerts.events import event_row, insert_event
from tollgate.alertconfig import AlertSettings
from tollgate.db import as_utc, utcnow
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
        query = query.where(ALERT_EVENTS.c.project_id == get_project(engine, project).id)
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


def webhooks(settings: AlertSettings) -> list[dict[str, str | None]]:
    """The configured webhooks and e-mail recipient lists, their secrets cut out."""
    return [
        {"webhook": h.fingerprint, "format": h.format, "target": h.label, "project": h.project}
        for h in settings.channels
    ]


def send_test_alert(engine: Engine, settings: AlertSettings, project: str | None) -> dict[str, Any]:
    """Record a test event and deliver it now, one attempt per webhook: the event as
    `list_alerts` shows it."""
    if not settings.channels:
        raise AdminError(
            "no webhooks configured: set TOLLGATE_ALERT_WEBHOOKS or alerts.webhooks "
            "(or an e-mail recipient: alerts.email)"
        )
    owner = get_project(engine, project) if project else None
    now, worker = utcnow(), f"admin:{uuid.uuid4().hex[:8]}"
    row = event_row(
        now,
        kind="test",
        subject=f"test:{uuid.uuid4().hex}",
        project_id=owner.id if owner else "",
        period="test",
        period_key=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        threshold=0,
        amount_nano=0,
        currency=owner.currency if owner else "",
        message=f"tollgate test alert{f' for project {owner.name}' if owner else ''}: "
        "webhook delivery works",
    )
    # Claimed from the start, so the delivery threads do not deliver it too.
    row.update(claimed_by=worker, lease_until=now + timedelta(seconds=settings.lease_seconds))
    with engine.begin() as conn:
        event_id = insert_event(conn, row)
    assert event_id is not None  # its subject is new
    once = dataclasses.replace(settings, max_attempts=1)
    with httpx.Client(timeout=once.timeout_seconds) as client:
        deliver_event(engine, client, event_id, worker, once, once.channels)
    [alert] = [a for a in list_alerts(engine, None, 50) if a["id"] == event_id]
    return alert
