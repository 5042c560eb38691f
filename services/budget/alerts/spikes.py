"""Spike alerts: a project whose spend over the last window is far above its own
baseline (the average per window over the period before it) gets an alert, once per
project and window, and optionally its driving keys paused until an operator resumes
them.

A spike needs all three: window spend >= factor x the baseline's window average,
window spend >= a small absolute floor, and at least `spike_min_requests` calls in
the window; so a first call never fires, and neither does a steady rate. A project
with no history has a baseline of zero: a loop in a brand-new project still fires once
it passes the floor and the request count."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from sqlalchemy import Connection, Engine, and_, case, func, or_, select, update

from services.budget.admin.audit_log import Target, acting_as, audited
from services.budget.alerts.events import event_row, insert_event
from tollgate.alertconfig import AlertSettings
from tollgate.db import read_transaction
from tollgate.db.models import API_KEYS, LEDGER, PROJECTS
from tollgate.money import format_amount, to_nano

log = logging.getLogger(__name__)
SPIKE_ACTOR = "internal:spike"


@dataclass(frozen=True)
class Spend:
    window_nano: int
    window_requests: int
    baseline_nano: int


@dataclass(frozen=True)
class Spike:
    project_id: str
    event_inserted: bool
    paused_keys: tuple[str, ...]


def is_spike(spend: Spend, settings: AlertSettings) -> bool:
    if settings.spike_factor <= 0 or spend.window_requests < settings.spike_min_requests:
        return False
    if spend.window_nano < to_nano(settings.spike_min_amount):
        return False
    # window >= factor * baseline * window_seconds / baseline_seconds, exactly.
    window, base = settings.spike_window_seconds, settings.spike_baseline_seconds
    factor = Fraction(str(settings.spike_factor))
    return spend.window_nano * base >= factor * spend.baseline_nano * window


def baseline_per_window(spend: Spend, settings: AlertSettings) -> int:
    return spend.baseline_nano * settings.spike_window_seconds // settings.spike_baseline_seconds


def window_key(now: datetime, settings: AlertSettings) -> str:
    """The window bucket `now` falls in: the dedup key of a spike event."""
    size = settings.spike_window_seconds
    start = int(now.timestamp()) // size * size
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bounds(now: datetime, settings: AlertSettings) -> tuple[datetime, datetime]:
    window_start = now - timedelta(seconds=settings.spike_window_seconds)
    return window_start, window_start - timedelta(seconds=settings.spike_baseline_seconds)


def project_spend(
    conn: Connection, project_id: str, now: datetime, settings: AlertSettings
) -> Spend:
    window_start, baseline_start = _bounds(now, settings)
    recent = LEDGER.c.started_at >= window_start
    row = conn.execute(
        select(
            func.coalesce(func.sum(case((recent, LEDGER.c.cost_nano), else_=0)), 0),
            func.coalesce(func.sum(case((recent, 1), else_=0)), 0),
            func.coalesce(func.sum(case((recent, 0), else_=LEDGER.c.cost_nano)), 0),
        ).where(LEDGER.c.project_id == project_id, LEDGER.c.started_at >= baseline_start)
    ).one()
    return Spend(int(row[0]), int(row[1]), int(row[2]))


def driving_keys(
    conn: Connection, project_id: str, now: datetime, settings: AlertSettings
) -> list[str]:
    """The project's keys that spike by the same test, counting a resumed key's spend
    only from its resume on (so a resume is not undone by the spend that caused it)."""
    window_start, baseline_start = _bounds(now, settings)
    recent = and_(
        LEDGER.c.started_at >= window_start,
        or_(API_KEYS.c.resumed_at.is_(None), LEDGER.c.started_at >= API_KEYS.c.resumed_at),
    )
    rows = conn.execute(
        select(
            LEDGER.c.key_id,
            func.sum(case((recent, LEDGER.c.cost_nano), else_=0)),
            func.sum(case((recent, 1), else_=0)),
            func.sum(case((LEDGER.c.started_at < window_start, LEDGER.c.cost_nano), else_=0)),
        )
        .select_from(LEDGER.join(API_KEYS, API_KEYS.c.id == LEDGER.c.key_id))
        .where(
            LEDGER.c.project_id == project_id,
            LEDGER.c.started_at >= baseline_start,
            API_KEYS.c.revoked_at.is_(None),
        )
        .group_by(LEDGER.c.key_id)
    ).all()
    return sorted(
        str(key) for key, w, n, b in rows if is_spike(Spend(int(w), int(n), int(b)), settings)
    )


def _minutes(settings: AlertSettings) -> str:
    return f"{settings.spike_window_seconds / 60:g}"


def _message(
    name: str, currency: str, spend: Spend, settings: AlertSettings, paused: list[str]
) -> str:
    minutes = _minutes(settings)
    text = (
        f"tollgate spike alert: project {name} spent {currency} {format_amount(spend.window_nano)} "
        f"in the last {minutes} min ({spend.window_requests} calls), against a usual "
        f"{currency} {format_amount(baseline_per_window(spend, settings))} per {minutes} min"
    )
    if paused:
        text += f"; paused keys {', '.join(paused)} until an operator resumes them"
    return text


def _pause(conn: Connection, project_id: str, keys: list[str], now: datetime) -> list[str]:
    """Pause each key not paused yet; the keys this call paused (one replica wins each).
    Each pause is in the audit log, as `internal:spike`'s `key.pause`."""
    paused = []
    with acting_as(SPIKE_ACTOR):
        for key in keys:
            where = API_KEYS.c.id == key
            with audited(conn, "key.pause", Target("key", key, project_id), API_KEYS, where):
                result = conn.execute(
                    update(API_KEYS)
                    .where(where, API_KEYS.c.paused_at.is_(None), API_KEYS.c.revoked_at.is_(None))
                    .values(paused_at=now)
                )
            if result.rowcount == 1:
                paused.append(key)
    return paused


def record_spike(
    engine: Engine,
    project: tuple[str, str, str],  # id, name, currency
    spend: Spend,
    now: datetime,
    settings: AlertSettings,
) -> Spike:
    """One spike event per project and window. Pausing is checked on every pass (a
    key resumed and looping again is paused again within the same window); a key
    paused after its window's event exists gets an event of its own (kind `pause`)."""
    project_id, name, currency = project
    fields = {
        "project_id": project_id,
        "period": "window",
        "period_key": window_key(now, settings),
        "threshold": 0,
        "baseline_nano": baseline_per_window(spend, settings),
        "amount_nano": spend.window_nano,
        "currency": currency,
    }
    with engine.begin() as conn:
        keys = driving_keys(conn, project_id, now, settings) if settings.spike_pause_keys else []
        paused = _pause(conn, project_id, keys, now)
        message = _message(name, currency, spend, settings, paused)
        event_id = insert_event(
            conn,
            event_row(
                now, kind="spike", subject=f"project:{project_id}", message=message, **fields
            ),
        )
        if event_id is None:
            for key in paused:
                insert_event(
                    conn,
                    event_row(
                        now,
                        kind="pause",
                        subject=f"key:{key}",
                        key_id=key,
                        message=f"{message} (again, within the same {_minutes(settings)} min)",
                        **fields,
                    ),
                )
    if event_id is not None or paused:
        log.warning("spend spike in project %s; paused keys: %s", name, paused or "none")
    return Spike(project_id, event_id is not None, tuple(paused))


def check_spikes(engine: Engine, settings: AlertSettings, now: datetime) -> list[Spike]:
    """One pass over every project: one indexed range query each."""
    if settings.spike_factor <= 0:
        return []
    with read_transaction(engine) as conn:
        projects = conn.execute(select(PROJECTS.c.id, PROJECTS.c.name, PROJECTS.c.currency)).all()
        spends = [(p, project_spend(conn, p.id, now, settings)) for p in projects]
    return [
        record_spike(engine, (p.id, p.name, p.currency), spend, now, settings)
        for p, spend in spends
        if is_spike(spend, settings)
    ]


def resume_key(engine: Engine, key_id: str, now: datetime) -> bool | None:
    """Clear a key's pause; True if it was paused, False if not, None if no such key."""
    with engine.begin() as conn:
        paused_at = conn.execute(
            select(API_KEYS.c.paused_at).where(API_KEYS.c.id == key_id)
        ).one_or_none()
        if paused_at is None:
            return None
        conn.execute(
            update(API_KEYS).where(API_KEYS.c.id == key_id).values(paused_at=None, resumed_at=now)
        )
    return paused_at[0] is not None
