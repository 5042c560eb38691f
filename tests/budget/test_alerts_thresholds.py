"""Threshold alerts: which thresholds a settlement crosses, and that each fires once
per budget and period however many replicas record it at the same moment."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from services.budget.admin import operations as admin
from services.budget.alerts import Crossing, crossed, record_crossings
from tollgate.db import make_engine, utcnow
from tollgate.db.models import ALERT_EVENTS

CNY = 1_000_000_000  # one yuan in nano-units


def crossing(before: int, after: int, limit: int = 1000 * CNY, **kw: object) -> Crossing:
    fields: dict[str, object] = {
        "budget_id": 7,
        "project_id": "prj_x",
        "key_id": None,
        "period": "daily",
        "period_key": "2026-11-30",
        "limit_nano": limit,
        "currency": "CNY",
        "thresholds": (50, 80, 100),
        "before_nano": before,
        "after_nano": after,
    }
    fields.update(kw)
    return Crossing(**fields)  # type: ignore[arg-type]


def test_a_threshold_fires_when_spend_reaches_it_not_before() -> None:
    assert crossed(crossing(0, 499_999_999_999)) == []
    assert crossed(crossing(0, 500 * CNY)) == [50]  # reaching 50% exactly fires it
    assert crossed(crossing(500 * CNY, 700 * CNY)) == []  # 50% was already reached before
    assert crossed(crossing(790 * CNY, 810 * CNY)) == [80]
    assert crossed(crossing(100 * CNY, 1200 * CNY)) == [50, 80, 100]
    assert crossed(crossing(1000 * CNY, 2000 * CNY)) == []
    # The seed's daily budget of CNY 1,000 with one alert at 80%.
    assert crossed(crossing(799 * CNY, 800 * CNY, thresholds=(80,))) == [80]
    # A threshold of an odd limit is exact: 80% of 0.000000003 is 0.0000000024.
    assert crossed(crossing(2, 3, limit=3, thresholds=(80,))) == [80]
    assert crossed(crossing(0, 2, limit=3, thresholds=(80,))) == []


@given(
    limit=st.integers(1, 10**15),
    spends=st.lists(st.integers(0, 10**14), min_size=1, max_size=6),
    thresholds=st.sets(st.integers(1, 300), min_size=1, max_size=5),
)
def test_crossings_match_exact_fractions_and_each_fires_once(
    limit: int, spends: list[int], thresholds: set[int]
) -> None:
    """Along any run of settlements, each threshold below the final spend fires exactly
    once, at the settlement that first reaches it (compared as exact fractions)."""
    fired: list[int] = []
    before = 0
    for add in spends:
        after = before + add
        got = crossed(crossing(before, after, limit=limit, thresholds=tuple(thresholds)))
        expected = [
            t for t in sorted(thresholds) if Fraction(before) < Fraction(t * limit, 100) <= after
        ]
        assert got == expected
        fired += got
        before = after
    assert sorted(fired) == sorted(t for t in thresholds if Fraction(t * limit, 100) <= before)


def events(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        return [
            (r.subject, r.period_key, r.threshold)
            for r in conn.execute(select(ALERT_EVENTS).order_by(ALERT_EVENTS.c.id))
        ]


def test_record_crossings_writes_one_event_per_threshold_and_period(db_url: str) -> None:
    engine = make_engine(db_url)
    project = admin.create_project(engine, "acme", currency="CNY")
    c = crossing(100 * CNY, 850 * CNY, project_id=project.id)
    with engine.begin() as conn:
        record_crossings(conn, [c, crossing(0, 10 * CNY, project_id=project.id)], utcnow())
    with engine.begin() as conn:  # the same crossing again (a retried settlement)
        record_crossings(conn, [c], utcnow())
    with engine.begin() as conn:  # the next day starts afresh
        record_crossings(conn, [crossing(0, 600 * CNY, period_key="2026-12-01")], utcnow())
    assert events(engine) == [
        ("budget:7", "2026-11-30", 50),
        ("budget:7", "2026-11-30", 80),
        ("budget:7", "2026-12-01", 50),
    ]
    with engine.connect() as conn:
        message = conn.execute(select(ALERT_EVENTS.c.message)).scalars().first()
    assert message is not None
    assert "project acme reached 50% of its daily budget (2026-11-30)" in message
    assert "CNY 850.00 spent of CNY 1000.00" in message
    engine.dispose()


def test_a_rolled_back_settlement_leaves_no_alert(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            record_crossings(conn, [crossing(0, 900 * CNY)], utcnow())
            raise RuntimeError("settlement failed")
    except RuntimeError:
        pass
    assert events(engine) == []
    engine.dispose()


def test_replicas_racing_on_one_crossing_record_it_once(db_url: str) -> None:
    """Twelve concurrent transactions (as from several budget replicas) record the
    same crossing at once, each holding its transaction open a moment after the
    insert: exactly one event per threshold survives."""
    engine = make_engine(db_url)
    start = threading.Barrier(12)
    errors: list[BaseException] = []

    def settle() -> None:
        try:
            start.wait()
            with engine.begin() as conn:
                record_crossings(conn, [crossing(700 * CNY, 1100 * CNY)], utcnow())
                time.sleep(0.02)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=settle) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 50% was passed before (700 of 1000) but never recorded: it is recorded now too.
    assert events(engine) == [
        ("budget:7", "2026-11-30", 50),
        ("budget:7", "2026-11-30", 80),
        ("budget:7", "2026-11-30", 100),
    ]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ALERT_EVENTS)).scalar() == 3
    engine.dispose()
