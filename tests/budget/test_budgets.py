"""Several budgets per project and key: daily, monthly and lifetime, hard and soft, in
a configured time zone (invariant 3: hard budgets hold), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from services.budget import alerts
from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reservations import Decision, ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import make_engine, utcnow
from tollgate.db.models import ALERT_EVENTS, API_KEYS, HOLDS

UTC_ZONE = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
# demo: CNY 21 / 105 per million tokens. A "big" call: 1M prompt + 1M output = CNY 126.
BIG = (1_000_000, 1_000_000)
BIG_NANO = 126 * 10**9
SMALL_NANO = 126_000_000  # 1000 + 1000 tokens: CNY 0.126
# After the seeded prices take effect, so every call is priced.
T0 = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


def world(url: str, zone: ZoneInfo = UTC_ZONE) -> tuple[ReservationBook, str, str]:
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="CNY", zone=zone)
    key = admin.create_key(engine, "acme", "ci").info.id
    return (
        ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600, zone=zone),
        project.id,
        key,
    )


def call(
    ledger: ReservationBook, rid: str, project: str, key: str, at: datetime, big: bool = True
) -> Decision:
    prompt, output = BIG if big else (1000, 1000)
    result = ledger.authorize(rid, project, key, "demo", prompt, output, now=at)
    if result.decision is Decision.ALLOWED:
        ledger.settle(rid, project, key, "demo", Usage(prompt, output), at)
    return result.decision


@pytest.mark.parametrize(("amount", "fits"), [(500, 3), (2000, 15), (5000, 39)])
def test_the_seeds_monthly_project_limits(db_url: str, amount: int, fits: int) -> None:
    ledger, project, key = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount=str(amount), zone=UTC_ZONE)
    decisions = [call(ledger, f"r{i}", project, key, T0) for i in range(fits + 1)]
    assert decisions == [Decision.ALLOWED] * fits + [Decision.BUDGET_EXCEEDED]
    status = ledger.status(project, T0)
    assert status.limit_nano == amount * 10**9
    assert (status.committed_nano, status.reserved_nano) == (fits * BIG_NANO, 0)


def test_the_seeds_daily_budget_alerts_at_80_percent_once_crossed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, project, key = world(db_url)
    seen: list[alerts.Crossing] = []
    monkeypatch.setattr(alerts, "record_crossings", lambda conn, c, now: seen.extend(c))
    budgets.set_budget(
        ledger.engine, "acme", period="daily", amount="1000", alert_at="80", zone=UTC_ZONE
    )
    assert [call(ledger, f"r{i}", project, key, T0) for i in range(7)] == [Decision.ALLOWED] * 7
    # Every settlement reports the move; the 7th (756 -> 882) is the one past 80% of 1000.
    assert len(seen) == 7 and all(c.thresholds == (80,) for c in seen)
    passing = [c for c in seen if 100 * c.before_nano < 80 * c.limit_nano <= 100 * c.after_nano]
    assert [(c.before_nano, c.after_nano) for c in passing] == [(6 * BIG_NANO, 7 * BIG_NANO)]
    assert passing[0].period == "daily" and passing[0].period_key == "2027-01-10"
    assert call(ledger, "r7", project, key, T0) is Decision.BUDGET_EXCEEDED  # 1008 > 1000


def test_key_budgets_bind_only_their_key_and_stack_with_the_projects(db_url: str) -> None:
    ledger, project, ci = world(db_url)
    other = admin.create_key(ledger.engine, "acme", "web").info.id
    budgets.set_budget(ledger.engine, "acme", key_id=ci, period="daily", amount="0.3")
    budgets.set_budget(ledger.engine, "acme", period="total", amount="0.6")
    assert call(ledger, "a", project, ci, T0, big=False) is Decision.ALLOWED
    assert call(ledger, "b", project, ci, T0, big=False) is Decision.ALLOWED
    assert call(ledger, "c", project, ci, T0, big=False) is Decision.BUDGET_EXCEEDED  # key's
    assert call(ledger, "d", project, other, T0, big=False) is Decision.ALLOWED
    # 3 x 0.126 committed; one more does not fit the project's lifetime 0.6.
    held = ledger.authorize("e", project, other, "demo", 1000, 1000, now=T0)
    assert held.decision is Decision.ALLOWED and held.reserved_nano == SMALL_NANO
    refused = ledger.authorize("f", project, other, "demo", 1000, 1000, now=T0)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert "lifetime budget" in refused.message and "never resets" in refused.message
    # The key-budgeted key's call holds against both of its budgets; release frees both.
    ledger.release("e")
    assert ledger.authorize(
        "g", project, ci, "demo", 1, 1, now=T0 + timedelta(days=1)
    ).decision is (Decision.ALLOWED)
    with ledger.engine.connect() as conn:
        holds = conn.execute(select(HOLDS).where(HOLDS.c.request_id == "g")).all()
    assert len(holds) == 2
    assert ledger.release("g")
    lines = {(ln.rule.owner, ln.rule.period): ln for ln in ledger.status(project, T0).lines}
    assert lines[("project", "total")].committed_nano == 3 * SMALL_NANO
    assert lines[("project", "total")].reserved_nano == 0
    assert lines[("key", "daily")].committed_nano == 2 * SMALL_NANO


def test_soft_budgets_never_refuse_and_still_count(db_url: str) -> None:
    ledger, project, key = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="0.10", hard=False)
    for i in range(5):
        result = ledger.authorize(f"r{i}", project, key, "demo", 1000, 1000, now=T0)
        assert (result.decision, result.reserved_nano) == (Decision.ALLOWED, 0)  # holds nothing
        ledger.settle(f"r{i}", project, key, "demo", Usage(1000, 1000), T0)
    (line,) = ledger.status(project, T0).lines
    assert not line.rule.hard and line.committed_nano == 5 * SMALL_NANO
    assert line.remaining_nano == 0
    assert ledger.status(project, T0).limit_nano is None  # no hard monthly limit


def test_a_soft_budget_set_below_the_spend_alerts_at_the_next_settlement_once(
    db_url: str,
) -> None:
    """The spend (CNY 0.252) is past 50% and 80% of a soft budget of CNY 0.20 when it
    is set: no settlement crosses them, yet each fires once, at the next settlement."""
    ledger, project, key = world(db_url)
    now = utcnow()  # the budget counts what was settled this month before it was set
    month = f"{now:%Y-%m}"
    assert call(ledger, "a", project, key, now, big=False) is Decision.ALLOWED
    assert call(ledger, "b", project, key, now, big=False) is Decision.ALLOWED
    budgets.set_budget(
        ledger.engine, "acme", period="monthly", amount="0.2", hard=False, alert_at="50,80"
    )
    assert threshold_events(ledger) == []  # setting it records nothing by itself
    assert call(ledger, "c", project, key, utcnow(), big=False) is Decision.ALLOWED
    assert threshold_events(ledger) == [(month, 50), (month, 80)]
    assert call(ledger, "d", project, key, utcnow(), big=False) is Decision.ALLOWED
    assert threshold_events(ledger) == [(month, 50), (month, 80)]  # once


def threshold_events(ledger: ReservationBook) -> list[tuple[str, int]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(ALERT_EVENTS.c.period_key, ALERT_EVENTS.c.threshold)
            .where(ALERT_EVENTS.c.kind == "threshold")
            .order_by(ALERT_EVENTS.c.threshold)
        )
        return [(row.period_key, row.threshold) for row in rows]


def test_days_begin_at_midnight_in_the_configured_zone(db_url: str) -> None:
    ledger, project, key = world(db_url, SHANGHAI)
    budgets.set_budget(ledger.engine, "acme", period="daily", amount="0.3", zone=SHANGHAI)
    late = datetime(2027, 1, 10, 15, 30, tzinfo=UTC)  # 23:30 on the 10th in Shanghai
    assert call(ledger, "a", project, key, late, big=False) is Decision.ALLOWED
    assert call(ledger, "b", project, key, late, big=False) is Decision.ALLOWED
    refused = ledger.authorize("c", project, key, "demo", 1000, 1000, now=late)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert "for 2027-01-11" not in refused.message and "for 2027-01-10" in refused.message
    assert "resets at 2027-01-11 00:00 Asia/Shanghai" in refused.message
    midnight = datetime(2027, 1, 10, 16, 0, tzinfo=UTC)  # 00:00 on the 11th in Shanghai
    assert call(ledger, "d", project, key, midnight, big=False) is Decision.ALLOWED
    # The same instant is still the 10th in UTC: a UTC ledger would refuse it.
    utc_ledger = ReservationBook(ledger.engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600)
    assert (
        utc_ledger.authorize("e", project, key, "demo", 1000, 1000, now=midnight).decision
        is Decision.BUDGET_EXCEEDED
    )


def test_months_reset_and_lifetime_budgets_do_not(db_url: str) -> None:
    ledger, project, key = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="0.2")
    end = datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
    assert call(ledger, "a", project, key, end, big=False) is Decision.ALLOWED
    refused = ledger.authorize("b", project, key, "demo", 1000, 1000, now=end)
    assert "resets at 2027-02-01 00:00 UTC" in refused.message
    february = datetime(2027, 2, 1, tzinfo=UTC)
    assert call(ledger, "c", project, key, february, big=False) is Decision.ALLOWED
    budgets.set_budget(ledger.engine, "acme", period="total", amount="0.3")
    march = datetime(2027, 3, 1, tzinfo=UTC)
    # The lifetime budget counted the two calls made before it was set (0.252).
    assert call(ledger, "d", project, key, march, big=False) is Decision.BUDGET_EXCEEDED


def test_a_refusal_names_the_budget_its_period_amounts_and_reset(db_url: str) -> None:
    ledger, project, key = world(db_url, SHANGHAI)
    budgets.set_budget(
        ledger.engine, "acme", key_id=key, period="monthly", amount="0.2", zone=SHANGHAI
    )
    at = datetime(2027, 1, 31, 17, 0, tzinfo=UTC)  # 01:00 on 1 February in Shanghai
    assert call(ledger, "a", project, key, at, big=False) is Decision.ALLOWED
    ledger.authorize("held", project, key, "demo", 10, 10, now=at)
    refused = ledger.authorize("b", project, key, "demo", 1000, 1000, now=at)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert refused.message == (
        f"Key 'ci' ({key}) of project 'acme' has CNY 0.07274 left of its monthly budget of "
        "CNY 0.20 for 2027-02 (CNY 0.126 spent and CNY 0.00126 held by calls in flight), "
        "and this call may cost up to CNY 0.126 (1,000 prompt tokens and up to 1,000 "
        "output tokens). Lower max_tokens (or shorten the prompt) so its worst case fits, "
        "or ask an operator to raise the budget. The budget resets at 2027-03-01 00:00 "
        "Asia/Shanghai."
    )
    assert call(ledger, "c", project, key, at, big=False) is Decision.BUDGET_EXCEEDED
    ledger.release("held")
    budgets.set_budget(
        ledger.engine, "acme", key_id=key, period="monthly", amount="0.126", zone=SHANGHAI
    )
    refused = ledger.authorize("d", project, key, "demo", 1000, 1000, now=at)
    assert refused.message == (
        f"Key 'ci' ({key}) of project 'acme' has reached its monthly budget of CNY 0.126 "
        "for 2027-02: CNY 0.126 spent and CNY 0.00 held by calls in flight; this call "
        "may cost up to CNY 0.126. The budget resets at 2027-03-01 00:00 Asia/Shanghai."
    )


def test_a_call_whose_own_worst_case_does_not_fit_says_so_and_how_to_fit(db_url: str) -> None:
    """Nothing spent, and a call without max_tokens is held at the model's whole output
    cap (4,096 tokens for demo: CNY 0.43): the refusal says so, not "reached"."""
    ledger, project, key = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="0.2", zone=UTC_ZONE)
    refused = ledger.authorize("a", project, key, "demo", 10, 0, now=T0)
    assert refused.decision is Decision.BUDGET_EXCEEDED
    assert refused.message == (
        "Project 'acme' has CNY 0.20 left of its monthly budget of CNY 0.20 for 2027-01 "
        "(CNY 0.00 spent and CNY 0.00 held by calls in flight), and this call may cost up "
        "to CNY 0.43029 (10 prompt tokens and the model's whole output cap, as max_tokens "
        "was not set). Set max_tokens to the most output the call needs, so its worst case "
        "fits, or ask an operator to raise the budget. The budget resets at 2027-02-01 "
        "00:00 UTC."
    )
    assert "reached" not in refused.message
    assert ledger.authorize("b", project, key, "demo", 10, 1000, now=T0).decision is (
        Decision.ALLOWED  # as the message says: with max_tokens set, it fits
    )


def test_a_paused_key_is_refused_until_resumed(db_url: str) -> None:
    ledger, project, key = world(db_url)
    with ledger.engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == key).values(paused_at=T0))
    paused = ledger.authorize("a", project, key, "demo", 1, 1, now=T0)
    assert paused.decision is Decision.KEY_PAUSED and "operator can resume" in paused.message
    with ledger.engine.begin() as conn:
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == key).values(paused_at=None))
    assert ledger.authorize("b", project, key, "demo", 1, 1, now=T0).decision is Decision.ALLOWED


def test_settlement_counts_in_the_period_the_call_started(db_url: str) -> None:
    ledger, project, key = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="daily", amount="1")
    before_midnight = datetime(2027, 1, 10, 23, 59, 59, tzinfo=UTC)
    ledger.authorize("r", project, key, "demo", 1000, 1000, now=before_midnight)
    ledger.settle("r", project, key, "demo", Usage(1000, 0), before_midnight + timedelta(hours=1))
    (day1,) = ledger.status(project, before_midnight).lines
    (day2,) = ledger.status(project, before_midnight + timedelta(seconds=1)).lines
    assert (day1.period_key, day1.committed_nano, day1.reserved_nano) == (
        "2027-01-10",
        21_000_000,
        0,
    )
    assert (day2.period_key, day2.committed_nano) == ("2027-01-11", 0)


def test_deleting_a_budget_leaves_its_reservations_settleable(db_url: str) -> None:
    ledger, project, key = world(db_url)
    budgets.set_budget(ledger.engine, "acme", period="monthly", amount="1")
    ledger.authorize("a", project, key, "demo", 1000, 1000, now=T0)
    ledger.authorize("b", project, key, "demo", 1000, 1000, now=T0)
    assert budgets.delete_budget(ledger.engine, "acme", period="monthly")
    assert not budgets.delete_budget(ledger.engine, "acme", period="monthly")
    assert ledger.release("a")
    assert ledger.settle("b", project, key, "demo", Usage(1000, 0), T0).cost_nano == 21_000_000
    assert ledger.status(project, T0).lines == ()


def test_bad_budget_input_writes_nothing(db_url: str) -> None:
    ledger, _, _ = world(db_url)
    admin.create_project(ledger.engine, "other")
    foreign = admin.create_key(ledger.engine, "other").info.id
    bad = [
        ({"period": "weekly", "amount": "1"}, "period must be one of"),
        ({"period": "daily", "amount": "-1"}, "non-negative"),
        ({"period": "daily", "amount": "1", "alert_at": "80,50"}, "rise"),
        ({"period": "daily", "amount": "1", "alert_at": "lots"}, "whole percents"),
        ({"period": "daily", "amount": "1", "key_id": foreign}, "does not belong"),
        ({"period": "daily", "amount": "1", "key_id": "key_nope"}, "no key with id"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            budgets.set_budget(ledger.engine, "acme", zone=UTC_ZONE, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(admin.NotFound):
        budgets.set_budget(ledger.engine, "nobody", period="daily", amount="1", zone=UTC_ZONE)
    assert budgets.list_budgets(ledger.engine, zone=UTC_ZONE) == []


def test_the_budget_time_zone_comes_from_the_environment_or_the_yaml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tollgate.config import ConfigError

    home = {"TOLLGATE_HOME": str(tmp_path)}
    assert load_settings(home).budget_timezone == "UTC"
    config = tmp_path / "tollgate.yaml"
    config.write_text("budget_timezone: Asia/Shanghai\n")
    from_yaml = {**home, "TOLLGATE_CONFIG": str(config)}
    assert load_settings(from_yaml).budget_timezone == "Asia/Shanghai"
    env_wins = {**from_yaml, "TOLLGATE_BUDGET_TIMEZONE": "Europe/Berlin"}
    assert load_settings(env_wins).budget_timezone == "Europe/Berlin"
    with pytest.raises(ConfigError, match="not a known time zone"):
        load_settings({**home, "TOLLGATE_BUDGET_TIMEZONE": "Mars/Olympus"})
