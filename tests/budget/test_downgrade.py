"""Downgrade instead of refuse (services/budget/downgrade.py), on SQLite and PostgreSQL:
past its threshold a project's low/medium calls are reserved at their cheaper model,
high-priority calls (no downgrade model) keep theirs until the hard limit, and the
project's entry into downgrade mode alerts once per period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.budget.admin import operations as admin
from services.budget.admin import policies
from services.budget.downgrade import month_forecast_nano
from services.budget.prices import PriceInput, seed_prices, set_price
from services.budget.reservations import Decision, ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import make_engine, utcnow
from tollgate.db.models import ALERT_EVENTS

RATE = Decimal("7.2")
NANO = 1_000_000_000


def setup(url: str, **policy: object) -> tuple[ReservationBook, str, str]:
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    with engine.begin() as conn:
        set_price(conn, PriceInput("cheap", "1", "2", None, "CNY"))
    project = admin.create_project(engine, "acme", currency="CNY", monthly_budget="1.00")
    key = admin.create_key(engine, "acme")
    if policy:
        policies.set_project_policy(engine, "acme", **policy)
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600), project.id, key.info.id


def spend(
    ledger: ReservationBook, project: str, key: str, output_tokens: int, at: datetime
) -> None:
    # demo: CNY 21 / 105 per million input / output tokens.
    ledger.settle(f"spent-{output_tokens}", project, key, "demo", Usage(1000, output_tokens), at)


def alerts(ledger: ReservationBook) -> list[tuple[str, str, str]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(ALERT_EVENTS.c.kind, ALERT_EVENTS.c.period_key, ALERT_EVENTS.c.message)
        ).all()
    return [tuple(row) for row in rows if row.kind == "downgrade"]  # type: ignore[misc]


def test_past_the_percent_a_call_is_downgraded_and_reserved_at_the_cheaper_model(
    db_url: str,
) -> None:
    ledger, project, key = setup(db_url, downgrade_at_percent=80)
    below = ledger.authorize("a", project, key, "demo", 1000, 1000, downgrade_model="cheap")
    assert below.decision is Decision.ALLOWED and below.reserved_nano == 126_000_000
    ledger.release("a")
    spend(ledger, project, key, 8000, utcnow())  # 0.021 + 0.84 = 0.861 of 1.00: past 80%
    past = ledger.authorize("b", project, key, "demo", 1000, 1000, downgrade_model="cheap")
    assert past.decision is Decision.DOWNGRADED
    assert past.reserved_nano == 3_000_000  # cheap: CNY 1 / 2 per million: 0.001 + 0.002
    again = ledger.authorize("b", project, key, "demo", 1000, 1000, downgrade_model="cheap")
    assert again.decision is Decision.DOWNGRADED  # a repeated Authorize answers alike
    third = ledger.authorize("c", project, key, "demo", 1000, 1000, downgrade_model="cheap")
    assert third.decision is Decision.DOWNGRADED
    recorded = alerts(ledger)
    assert len(recorded) == 1, recorded
    assert "acme" in recorded[0][2] and "demo -> cheap" in recorded[0][2]


def test_the_alert_is_recorded_once_across_ledgers(db_url: str) -> None:
    ledger, project, key = setup(db_url, downgrade_at_percent=50)
    spend(ledger, project, key, 6000, utcnow())
    other = ReservationBook(ledger.engine, usd_to_cny=RATE, ttl_seconds=600)  # another replica
    for i, each in enumerate((ledger, other, ledger, other)):
        answer = each.authorize(f"r{i}", project, key, "demo", 10, 10, downgrade_model="cheap")
        assert answer.decision is Decision.DOWNGRADED
    assert len(alerts(ledger)) == 1


def test_high_priority_keeps_its_model_until_the_hard_limit(db_url: str) -> None:
    ledger, project, key = setup(db_url, downgrade_at_percent=80)
    spend(ledger, project, key, 8000, utcnow())
    # High priority: the gateway names no downgrade model.
    kept = ledger.authorize("h1", project, key, "demo", 1000, 1000)
    assert kept.decision is Decision.ALLOWED and kept.reserved_nano == 126_000_000
    refused = ledger.authorize("h2", project, key, "demo", 1000, 1000)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert alerts(ledger) == []


def test_no_threshold_means_no_downgrade(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    spend(ledger, project, key, 8000, utcnow())
    answer = ledger.authorize("x", project, key, "demo", 1000, 1000, downgrade_model="cheap")
    assert answer.decision is Decision.ALLOWED and answer.reserved_nano == 126_000_000


def test_an_unpriced_cheaper_model_is_no_downgrade(db_url: str) -> None:
    ledger, project, key = setup(db_url, downgrade_at_percent=10)
    spend(ledger, project, key, 8000, utcnow())
    answer = ledger.authorize("x", project, key, "demo", 10, 10, downgrade_model="no-such")
    assert answer.decision is Decision.ALLOWED


def test_month_forecast_is_the_run_rate_with_at_least_a_day_elapsed() -> None:
    utc = ZoneInfo("UTC")
    # November has 30 days: 10 spent in 3 days runs to 100.
    assert month_forecast_nano(10, "2026-11", datetime(2026, 11, 4, tzinfo=utc), utc) == 100
    # An hour into the month counts as one day: 1 spent runs to 30, not 720.
    assert month_forecast_nano(1, "2026-11", datetime(2026, 11, 1, 1, tzinfo=utc), utc) == 30
    assert month_forecast_nano(0, "2026-11", datetime(2026, 11, 20, tzinfo=utc), utc) == 0


def test_the_forecast_decides_on_a_fixed_day(db_url: str) -> None:
    ledger, project, key = setup(db_url, downgrade_on_forecast=True)
    day3 = datetime(2030, 11, 4, tzinfo=UTC)
    # 0.126 committed by day 3 of 30 runs to 1.26 > 1.00: downgraded.
    ledger.settle("early", project, key, "demo", Usage(1000, 1000), day3)
    answer = ledger.authorize("f", project, key, "demo", 10, 10, now=day3, downgrade_model="cheap")
    assert answer.decision is Decision.DOWNGRADED
    # The same spend by day 20 runs to 0.189: not downgraded.
    ledger2, project2, key2 = setup_second(ledger)
    day20 = datetime(2030, 11, 20, tzinfo=UTC)
    ledger2.settle("late", project2, key2, "demo", Usage(1000, 1000), day20)
    answer = ledger2.authorize(
        "g", project2, key2, "demo", 10, 10, now=day20, downgrade_model="cheap"
    )
    assert answer.decision is Decision.ALLOWED


def setup_second(ledger: ReservationBook) -> tuple[ReservationBook, str, str]:
    engine = ledger.engine
    project = admin.create_project(engine, "other", currency="CNY", monthly_budget="1.00")
    key = admin.create_key(engine, "other")
    policies.set_project_policy(engine, "other", downgrade_on_forecast="on")
    return ledger, project.id, key.info.id
