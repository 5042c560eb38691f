"""Reminders before a key expires: an alert `key_expiry_reminder_days` days before
(7 and 1 by default), once each, through the same channels as every alert (webhooks,
e-mail).

Each reminder is an alert event unique per key, expiry and reminder day (the subject
is the key, the period key its expiry, the threshold the days), so replicas checking
at the same moment record it once, and a key given a new expiry is reminded again.
A key found with less time left than several reminders (created to expire tomorrow,
say) gets only the nearest one: never a "7 days left" when one day is."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from services.budget.alerts.events import event_row, insert_event
from tollgate.alertconfig import AlertSettings
from tollgate.db import as_utc
from tollgate.db.models import API_KEYS, PROJECTS

KIND = "key_expiry"


def _message(key_id: str, name: str, project: str, expires: datetime, days: int) -> str:
    label = f"{key_id} ({name})" if name else key_id
    within = "1 day" if days == 1 else f"{days} days"
    return (
        f"tollgate: API key {label} of project {project} expires within {within}, at "
        f"{expires:%Y-%m-%d %H:%M} UTC: rotate it (tollgate key rotate {key_id} --grace 24h)"
    )


def check_key_expiry(engine: Engine, settings: AlertSettings, now: datetime) -> list[str]:
    """Record the reminders due now; the ids of the keys reminded."""
    days = sorted(settings.key_expiry_reminder_days)
    if not days:
        return []
    horizon = now + timedelta(days=days[-1])
    query = (
        select(
            API_KEYS.c.id,
            API_KEYS.c.name,
            API_KEYS.c.project_id,
            API_KEYS.c.expires_at,
            PROJECTS.c.name.label("project"),
            PROJECTS.c.currency,
        )
        .join(PROJECTS, PROJECTS.c.id == API_KEYS.c.project_id)
        .where(
            API_KEYS.c.revoked_at.is_(None),
            API_KEYS.c.expires_at.is_not(None),
            API_KEYS.c.expires_at > now,
            API_KEYS.c.expires_at <= horizon,
        )
    )
    reminded = []
    with engine.begin() as conn:
        for key in conn.execute(query).all():
            expires = as_utc(key.expires_at)
            nearest = next(d for d in days if expires - now <= timedelta(days=d))
            row = event_row(
                now,
                kind=KIND,
                subject=f"key:{key.id}",
                project_id=key.project_id,
                key_id=key.id,
                period="expiry",
                period_key=expires.isoformat()[:40],
                threshold=nearest,
                amount_nano=0,
                currency=key.currency,
                message=_message(key.id, key.name, key.project, expires, nearest)[:1000],
            )
            if insert_event(conn, row) is not None:
                reminded.append(key.id)
    return reminded
