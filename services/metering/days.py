"""UTC days and months for reports: parsing, bounds and defaults."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def today_utc() -> date:
    return datetime.now(UTC).date()


def parse_day(text: str, what: str = "day") -> date:
    """A "YYYY-MM-DD" day from user input."""
    value = text.strip()
    if _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{what}: {text!r} is not a day such as 2026-11-30 (YYYY-MM-DD)")


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def last_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def days_left_in_month(day: date) -> int:
    """Whole days after `day` up to and including the month's last day."""
    return (last_of_month(day) - day).days


def day_range(start: str | None, end: str | None, today: date | None = None) -> tuple[date, date]:
    """Inclusive [start, end] from optional "YYYY-MM-DD" strings. Defaults: `end` is
    today (UTC); `start` is the first day of `end`'s month."""
    today = today or today_utc()
    last = parse_day(end, "to") if end else today
    first = parse_day(start, "from") if start else first_of_month(last)
    if first > last:
        raise ValueError(f"from ({first}) is after to ({last})")
    return first, last
