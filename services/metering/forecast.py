"""Month-end forecast of a project's spend, in UTC calendar days.

    forecast = spent so far this month + daily average x days left

- spent so far: every ledger cost of the current calendar month (UTC) up to now,
  today's partial spend included;
- daily average: the spend of the trailing window divided by its number of days. The
  window is the seven complete UTC days before today (it reaches into the previous
  month early in a month), cut to start no earlier than the day the project was
  created. A project created today has an empty window: its average is zero and its
  forecast is what it has spent so far;
- days left: whole days after today up to the month's last day (0 on the last day).
  The rest of today is not extrapolated: today's spend counts as it stands.

The arithmetic is exact: the forecast is spent + window_total x days_left / window_days,
rounded once, half up, to a whole nano-unit (the rule of tollgate.money). The daily
average shown is window_total / window_days rounded the same way on its own; the
forecast is computed from the exact average, not from the rounded one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, select

from services.metering.days import days_left_in_month, first_of_month, today_utc
from services.metering.rollups import day_of
from tollgate.db import read_transaction
from tollgate.db.models import PROJECTS, ROLLUPS

WINDOW_DAYS = 7


def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, exactly, for non-negative integers."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("divide_half_up needs a non-negative numerator and a positive divisor")
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


@dataclass(frozen=True)
class Forecast:
    today: date
    currency: str
    spent_nano: int
    window_first: date | None  # None when the window is empty
    window_last: date | None
    window_days: int
    window_nano: int
    daily_average_nano: int
    days_left: int
    forecast_nano: int

    @property
    def month(self) -> str:
        return self.today.strftime("%Y-%m")


def month_forecast(
    today: date, daily_nano: Mapping[date, int], *, first_day: date | None = None, currency: str
) -> Forecast:
    """The forecast from spend per UTC day; `first_day` is the project's first day."""
    spent = sum(nano for day, nano in daily_nano.items() if first_of_month(today) <= day <= today)
    window_first = today - timedelta(days=WINDOW_DAYS)
    if first_day is not None:
        window_first = max(window_first, first_day)
    window_last = today - timedelta(days=1)
    days = max((window_last - window_first).days + 1, 0)
    window = sum(nano for day, nano in daily_nano.items() if window_first <= day <= window_last)
    left = days_left_in_month(today)
    return Forecast(
        today=today,
        currency=currency,
        spent_nano=spent,
        window_first=window_first if days else None,
        window_last=window_last if days else None,
        window_days=days,
        window_nano=window,
        daily_average_nano=divide_half_up(window, days) if days else 0,
        days_left=left,
        forecast_nano=spent + (divide_half_up(window * left, days) if days else 0),
    )


def project_forecast(engine: Engine, project_id: str, today: date | None = None) -> Forecast:
    """A project's forecast for today's month, from the daily rollups."""
    today = today or today_utc()
    since = min(first_of_month(today), today - timedelta(days=WINDOW_DAYS))
    with read_transaction(engine) as conn:
        project = conn.execute(
            select(PROJECTS.c.currency, PROJECTS.c.created_at).where(PROJECTS.c.id == project_id)
        ).first()
        if project is None:
            raise LookupError(project_id)
        rows = conn.execute(
            select(ROLLUPS.c.day, func.sum(ROLLUPS.c.cost_nano))
            .where(
                ROLLUPS.c.project_id == project_id,
                ROLLUPS.c.day >= since,
                ROLLUPS.c.day <= today,
            )
            .group_by(ROLLUPS.c.day)
        ).all()
    daily = {day: int(nano or 0) for day, nano in rows}
    return month_forecast(
        today, daily, first_day=day_of(project.created_at), currency=project.currency
    )
