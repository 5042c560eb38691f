"""Month-end forecast arithmetic on known calendars (28-, 29-, 30- and 31-day months,
first and last days), exact and rounded once half up; and the forecast read from the
rollups on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.metering.forecast import divide_half_up, month_forecast, project_forecast
from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry, make_project
from tollgate.db import make_engine
from tollgate.money import format_amount, to_nano

UNIT = 10**9  # nano-units per CNY


def spend(first: date, last: date, cny: str) -> dict[date, int]:
    """The same spend on every day from first to last."""
    days = (last - first).days + 1
    return {first + timedelta(days=i): to_nano(cny) for i in range(days)}


@pytest.mark.parametrize(
    ("today", "daily", "days_left", "spent", "average", "forecast"),
    [
        # February 2026 has 28 days: 18 left after the 10th. Ten days of 1 CNY, the
        # window (3rd to 9th) averages 1 CNY: 10 + 18 x 1.
        (date(2026, 2, 10), spend(date(2026, 1, 20), date(2026, 2, 10), "1"), 18, "10", "1", "28"),
        # February 2028 has 29 days: 19 left after the 10th.
        (date(2028, 2, 10), spend(date(2028, 1, 20), date(2028, 2, 10), "1"), 19, "10", "1", "29"),
        # The leap day itself is the month's last: nothing left to forecast.
        (date(2028, 2, 29), spend(date(2028, 2, 1), date(2028, 2, 29), "2"), 0, "58", "2", "58"),
        # November 2026 has 30 days: 15 left after the 15th.
        (
            date(2026, 11, 15),
            spend(date(2026, 11, 1), date(2026, 11, 15), "3"),
            15,
            "45",
            "3",
            "90",
        ),
        # December 2026 has 31 days: 16 left after the 15th.
        (
            date(2026, 12, 15),
            spend(date(2026, 12, 1), date(2026, 12, 15), "3"),
            16,
            "45",
            "3",
            "93",
        ),
        # First day of March: only today's spend is this month's; the window is the
        # last seven days of February (2 CNY a day); 30 days left.
        (
            date(2026, 3, 1),
            {**spend(date(2026, 2, 1), date(2026, 2, 28), "2"), date(2026, 3, 1): to_nano("0.5")},
            30,
            "0.5",
            "2",
            "60.5",
        ),
        # Last day of a 31-day month: the forecast is what was spent.
        (date(2026, 1, 31), spend(date(2026, 1, 1), date(2026, 1, 31), "1"), 0, "31", "1", "31"),
    ],
)
def test_forecast_on_known_calendars(today, daily, days_left, spent, average, forecast) -> None:  # type: ignore[no-untyped-def]
    f = month_forecast(today, daily, first_day=date(2020, 1, 1), currency="CNY")
    assert f.days_left == days_left
    assert f.window_days == 7
    assert (f.window_first, f.window_last) == (today - timedelta(days=7), today - timedelta(1))
    assert f.spent_nano == to_nano(spent)
    assert f.daily_average_nano == to_nano(average)
    assert f.forecast_nano == to_nano(forecast)


def test_the_window_average_is_exact_and_rounded_once_half_up() -> None:
    # 10 CNY over the 7 window days of November 2026, 15 days left after the 15th:
    # 150/7 CNY = 21.428571428571428571... -> 21.428571429 (half up at the 10th digit).
    window = {date(2026, 11, 8): to_nano("4"), date(2026, 11, 14): to_nano("6")}
    f = month_forecast(date(2026, 11, 15), window, first_day=date(2026, 1, 1), currency="CNY")
    assert f.spent_nano == to_nano("10")
    assert format_amount(f.daily_average_nano) == "1.428571429"
    assert format_amount(f.forecast_nano) == "31.428571429"
    # From the rounded average it would be 10 + 15 x 1.428571429 = 31.428571435: the
    # forecast uses the exact average.
    assert f.forecast_nano != to_nano("10") + 15 * f.daily_average_nano


def test_half_a_nano_rounds_up() -> None:
    # A project two days old: the window is those 2 days, 1 nano in all; one day left
    # (the 29th of November): 1 x 1 / 2 = 0.5 nano -> 1.
    f = month_forecast(
        date(2026, 11, 29), {date(2026, 11, 27): 1}, first_day=date(2026, 11, 27), currency="CNY"
    )
    assert (f.window_days, f.days_left, f.daily_average_nano, f.forecast_nano) == (2, 1, 1, 2)
    assert divide_half_up(5, 2) == 3 and divide_half_up(4, 3) == 1 and divide_half_up(5, 3) == 2


def test_a_project_younger_than_the_window_averages_over_its_own_days() -> None:
    daily = {date(2026, 11, 28): to_nano("3"), date(2026, 11, 29): to_nano("1")}
    f = month_forecast(date(2026, 11, 30), daily, first_day=date(2026, 11, 28), currency="CNY")
    assert (f.window_first, f.window_last, f.window_days) == (
        date(2026, 11, 28),
        date(2026, 11, 29),
        2,
    )
    assert f.daily_average_nano == to_nano("2") and f.days_left == 0
    # A project made today has no complete day: no average, the forecast is its spend.
    today = {date(2026, 11, 30): to_nano("5")}
    f = month_forecast(date(2026, 11, 30), today, first_day=date(2026, 11, 30), currency="CNY")
    assert (f.window_days, f.window_first, f.daily_average_nano) == (0, None, 0)
    assert f.forecast_nano == f.spent_nano == to_nano("5")


def test_the_forecast_reads_the_rollups(db_url: str) -> None:
    engine = make_engine(db_url)
    make_project(engine, "p1", "acme", datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    ledger = UsageLedger(engine)
    calls = [
        (
            datetime(2026, 11, 19, 12, tzinfo=UTC),
            "100",
        ),  # before its first day: spent, not in the window
        (datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC), "7"),
        (datetime(2026, 11, 24, 0, 0, tzinfo=UTC), "7"),
        (datetime(2026, 11, 26, 8, tzinfo=UTC), "0.25"),  # today, partial
    ]
    for i, (started, cny) in enumerate(calls):
        ledger.add(entry(f"c{i}", started, to_nano(cny)))
        ledger.add(entry(f"c{i}", started, to_nano(cny)))  # redelivered: counted once
    other = entry("o", datetime(2026, 11, 24, tzinfo=UTC), to_nano("50"), project_id="p2")
    ledger.add(other)
    f = project_forecast(engine, "p1", today=date(2026, 11, 26))
    # The window is the 20th (creation day) to the 25th: 6 days, 14 CNY.
    assert (f.window_first, f.window_last, f.window_days) == (
        date(2026, 11, 20),
        date(2026, 11, 25),
        6,
    )
    assert f.spent_nano == to_nano("114.25") and f.days_left == 4
    assert f.forecast_nano == to_nano("114.25") + divide_half_up(to_nano("14") * 4, 6)
    assert Decimal(format_amount(f.forecast_nano)) == Decimal("123.583333333")
    with pytest.raises(LookupError):
        project_forecast(engine, "nobody", today=date(2026, 11, 26))
    engine.dispose()
