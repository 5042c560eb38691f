"""Delivery: every pending event goes to every webhook (and e-mail recipient list)
that applies to it, with retries and exponential backoff, each attempt logged in
alert_deliveries.

Replicas share the work through a lease on the event row: a worker claims an event
with one conditional UPDATE (only one replica's UPDATE matches), posts outside any
transaction, logs each attempt, then either marks the event done or schedules its
next attempt and drops the lease. A worker that dies mid-delivery leaves a lease
that expires, so delivery is at-least-once: a crash between a webhook's answer and
its log row can repeat that one message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, Row, and_, insert, or_, select, update

from services.budget.alerts.email import send_email
from services.budget.alerts.webhooks import Alert, Outcome, send
from tollgate.alertconfig import AlertSettings, Channel
from tollgate.db import as_utc, utcnow
from tollgate.db.models import ALERT_DELIVERIES, ALERT_EVENTS, PROJECTS
from tollgate.emailconfig import EmailTarget
from tollgate.money import format_amount

log = logging.getLogger(__name__)
EVENTS, DELIVERIES = ALERT_EVENTS, ALERT_DELIVERIES


@dataclass(frozen=True)
class Progress:
    """One webhook's history for one event."""

    attempts: int = 0
    delivered: bool = False


def backoff(settings: AlertSettings, attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base * 2**(attempts-1), capped."""
    seconds = settings.backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.max_backoff_seconds))


def claim(engine: Engine, event_id: int, worker: str, now: datetime, lease: float) -> bool:
    """Take the event's lease if it is due and nobody holds a live lease on it."""
    with engine.begin() as conn:
        result = conn.execute(
            update(EVENTS)
            .where(
                EVENTS.c.id == event_id,
                EVENTS.c.done_at.is_(None),
                EVENTS.c.next_attempt_at <= now,
                or_(EVENTS.c.lease_until.is_(None), EVENTS.c.lease_until < now),
            )
            .values(claimed_by=worker, lease_until=now + timedelta(seconds=lease))
        )
        return result.rowcount == 1


def due_events(engine: Engine, now: datetime, limit: int = 50) -> list[int]:
    with engine.connect() as conn:
        ids = conn.execute(
            select(EVENTS.c.id)
            .where(
                EVENTS.c.done_at.is_(None),
                EVENTS.c.next_attempt_at <= now,
                or_(EVENTS.c.lease_until.is_(None), EVENTS.c.lease_until < now),
            )
            .order_by(EVENTS.c.id)
            .limit(limit)
        ).scalars()
        found = [int(i) for i in ids]
        conn.rollback()
    return found


def _alert(row: Row[Any]) -> Alert:
    def amount(nano: int | None) -> str | None:
        return None if nano is None else format_amount(nano)

    return Alert(
        id=row.id,
        kind=row.kind,
        project_id=row.project_id,
        project=row.project_name or row.project_id,
        key_id=row.key_id,
        budget_id=row.budget_id,
        period=row.period,
        period_key=row.period_key,
        threshold=row.threshold,
        limit=amount(row.limit_nano),
        baseline=amount(row.baseline_nano),
        amount=format_amount(row.amount_nano),
        currency=row.currency,
        message=row.message,
        created_at=as_utc(row.created_at).isoformat(),
    )


def load(engine: Engine, event_id: int) -> tuple[Alert, dict[str, Progress]]:
    """The event and, per webhook fingerprint, what has been tried so far."""
    with engine.connect() as conn:
        row = conn.execute(
            select(EVENTS, PROJECTS.c.name.label("project_name"))
            .select_from(EVENTS.outerjoin(PROJECTS, PROJECTS.c.id == EVENTS.c.project_id))
            .where(EVENTS.c.id == event_id)
        ).one()
        tried = conn.execute(
            select(DELIVERIES.c.webhook, DELIVERIES.c.delivered_at).where(
                DELIVERIES.c.event_id == event_id
            )
        ).all()
        conn.rollback()
    progress: dict[str, Progress] = {}
    for webhook, delivered_at in tried:
        seen = progress.get(webhook, Progress())
        progress[webhook] = Progress(seen.attempts + 1, seen.delivered or delivered_at is not None)
    return _alert(row), progress


def log_attempt(
    engine: Engine, event_id: int, hook: Channel, attempt: int, outcome: Outcome
) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(DELIVERIES).values(
                event_id=event_id,
                webhook=hook.fingerprint,
                target=hook.label[:200],
                format=hook.format,
                attempt=attempt,
                status_code=outcome.status_code,
                error=outcome.error,
                attempted_at=now,
                delivered_at=now if outcome.ok else None,
            )
        )
    if outcome.ok:
        log.info("alert %d delivered to %s (attempt %d)", event_id, hook.label, attempt)
    else:
        log.warning(
            "alert %d to %s failed (attempt %d): %s", event_id, hook.label, attempt, outcome.error
        )


def deliver_event(
    engine: Engine,
    client: httpx.Client,
    event_id: int,
    worker: str,
    settings: AlertSettings,
    webhooks: Sequence[Channel],
) -> bool:
    """Try every webhook (or e-mail list) still owed this event once; then mark the
    event done (all delivered or out of attempts) or schedule the next try. True when
    done."""
    alert, progress = load(engine, event_id)
    targets = [w for w in webhooks if w.applies_to(alert.project_id, alert.project)]
    # Two configured entries with the same URL are one webhook.
    owed = {
        w.fingerprint: w for w in targets if not progress.get(w.fingerprint, Progress()).delivered
    }
    retry_after: list[int] = []
    for fingerprint, hook in owed.items():
        attempts = progress.get(fingerprint, Progress()).attempts
        if attempts >= settings.max_attempts:
            continue
        outcome = _send(client, hook, alert, settings)
        log_attempt(engine, event_id, hook, attempts + 1, outcome)
        if not outcome.ok and attempts + 1 < settings.max_attempts:
            retry_after.append(attempts + 1)
    now = utcnow()
    done = not retry_after
    values: dict[str, Any] = {"claimed_by": None, "lease_until": None}
    if done:
        values["done_at"] = now
    else:
        values["next_attempt_at"] = now + backoff(settings, min(retry_after))
    with engine.begin() as conn:
        conn.execute(
            update(EVENTS)
            .where(and_(EVENTS.c.id == event_id, EVENTS.c.claimed_by == worker))
            .values(**values)
        )
    return done


def _send(client: httpx.Client, hook: Channel, alert: Alert, settings: AlertSettings) -> Outcome:
    if isinstance(hook, EmailTarget):
        if settings.email is None:
            return Outcome(False, None, "no SMTP server configured")
        return send_email(settings.email, hook, alert, settings.timeout_seconds)
    return send(client, hook, alert)


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    worker: str,
    settings: AlertSettings,
    webhooks: Sequence[Channel] | None = None,
) -> int:
    """One pass: claim and deliver every due event; the number of events handled."""
    hooks = settings.channels if webhooks is None else webhooks
    handled = 0
    for event_id in due_events(engine, utcnow()):
        if claim(engine, event_id, worker, utcnow(), settings.lease_seconds):
            deliver_event(engine, client, event_id, worker, settings, hooks)
            handled += 1
    return handled
