"""Spike alerts on a synthetic ledger: a loop fires, a steady rate and a first call do
not, once per project and window; the looping key is paused and can be resumed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from services.budget.admin import operations as admin
from services.budget.alerts.spikes import check_spikes, resume_key, window_key
from tests.budget.spike_ledger import CNY, NOW, SETTINGS, calls, loop, steady
from tollgate.db import as_utc, make_engine
from tollgate.db.models import ALERT_EVENTS, API_KEYS


def project_with_keys(engine: Engine, name: str) -> tuple[str, str, str]:
    project = admin.create_project(engine, name, currency="CNY").id
    return project, admin.create_key(engine, name).info.id, admin.create_key(engine, name).info.id


def paused(engine: Engine, key: str) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(select(API_KEYS.c.paused_at).where(API_KEYS.c.id == key)).scalar()
            is not None
        )


def test_a_steady_rate_a_first_call_and_a_loop(db_url: str) -> None:
    engine = make_engine(db_url)
    calm, calm_key, _ = project_with_keys(engine, "calm")
    calls(engine, calm, calm_key, steady(65, 4))  # CNY 20 every 5 min, for an hour and more
    first, first_key, _ = project_with_keys(engine, "first")
    calls(engine, first, first_key, [NOW - timedelta(seconds=5)], cost=500 * CNY)  # one big call
    busy, busy_key, loop_key = project_with_keys(engine, "busy")
    calls(engine, busy, busy_key, steady(65, 4))
    calls(engine, busy, loop_key, loop(181, timedelta(minutes=2)))  # 201 in the window: 10.05x
    new, new_key, _ = project_with_keys(engine, "new")
    calls(engine, new, new_key, loop(12, timedelta(minutes=1)))  # no history at all

    spikes = check_spikes(engine, SETTINGS, NOW)
    assert sorted(s.project_id for s in spikes) == sorted([busy, new])
    assert all(s.event_inserted and s.paused_keys == () for s in spikes)
    with engine.connect() as conn:
        rows = conn.execute(select(ALERT_EVENTS).where(ALERT_EVENTS.c.project_id == busy)).all()
    [event] = rows
    assert (event.kind, event.period_key, event.amount_nano) == (
        "spike",
        "2026-11-30T12:00:00Z",
        201 * CNY,
    )
    assert event.baseline_nano == 20 * CNY
    assert "project busy spent CNY 201.00 in the last 5 min (201 calls)" in event.message
    assert not paused(engine, loop_key)  # pausing is off by default

    # The same window again (another replica, or the next check): no second event.
    assert all(
        not s.event_inserted for s in check_spikes(engine, SETTINGS, NOW + timedelta(seconds=60))
    )
    engine.dispose()


def test_just_below_the_factor_does_not_fire(db_url: str) -> None:
    engine = make_engine(db_url)
    busy, busy_key, loop_key = project_with_keys(engine, "busy")
    calls(engine, busy, busy_key, steady(65, 4))
    calls(engine, busy, loop_key, loop(179, timedelta(minutes=2)))  # 199 in the window: 9.95x
    assert check_spikes(engine, SETTINGS, NOW) == []
    assert check_spikes(engine, replace(SETTINGS, spike_factor=Decimal(0)), NOW) == []
    engine.dispose()


def test_the_looping_key_is_paused_and_stays_resumed_unless_it_loops_again(db_url: str) -> None:
    engine = make_engine(db_url)
    settings = replace(SETTINGS, spike_pause_keys=True)
    busy, steady_key, loop_key = project_with_keys(engine, "busy")
    calls(engine, busy, steady_key, steady(65, 4))
    calls(engine, busy, loop_key, loop(300, timedelta(minutes=2)))

    [spike] = check_spikes(engine, settings, NOW)
    assert spike.paused_keys == (loop_key,)
    assert paused(engine, loop_key) and not paused(engine, steady_key)
    with engine.connect() as conn:
        message = conn.execute(select(ALERT_EVENTS.c.message)).scalar_one()
    assert f"paused keys {loop_key}" in message

    assert resume_key(engine, loop_key, NOW) is True
    assert resume_key(engine, loop_key, NOW) is False  # not paused any more
    assert resume_key(engine, "key_nope", NOW) is None
    # Three minutes on, a new window still holds the loop's spend from before the
    # resume: the project alerts again, but the resumed key is not paused again.
    later = NOW + timedelta(minutes=3)
    calls(engine, busy, steady_key, steady(3, 4, until=later))
    [again] = check_spikes(engine, settings, later)
    assert again.event_inserted and again.paused_keys == ()
    assert not paused(engine, loop_key)
    with engine.connect() as conn:
        resumed = conn.execute(
            select(API_KEYS.c.resumed_at).where(API_KEYS.c.id == loop_key)
        ).scalar()
    assert resumed is not None and as_utc(resumed) == NOW

    # If it loops again after the resume, the next pass pauses it again, even inside the
    # window whose spike was already alerted: the pause gets an event of its own. (The
    # first loop now sits in the baseline, CNY 45 per 5 min: 1000 calls exceed 10x.)
    latest = NOW + timedelta(minutes=6)
    assert window_key(latest, settings) == window_key(later, settings)
    calls(engine, busy, loop_key, loop(1000, timedelta(minutes=2), until=latest))
    [third] = check_spikes(engine, settings, latest)
    assert not third.event_inserted and third.paused_keys == (loop_key,)
    assert paused(engine, loop_key)
    with engine.connect() as conn:
        kinds = conn.execute(select(ALERT_EVENTS.c.kind).order_by(ALERT_EVENTS.c.id)).scalars()
        assert list(kinds) == ["spike", "spike", "pause"]
    # Paused already: a further pass neither pauses nor alerts again.
    assert check_spikes(engine, settings, latest + timedelta(seconds=30))[0].paused_keys == ()
    engine.dispose()
