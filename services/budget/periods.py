"""Budget periods: calendar days and months in the configured time zone, or for ever.

A period key names one period of a budget: `2026-11-30` (daily), `2026-11` (monthly)
or `total` (lifetime). Every instant falls in exactly one key of each period.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PERIODS = ("daily", "monthly", "total")
TOTAL = "total"


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not a known time zone (e.g. UTC, Asia/Shanghai)") from exc


def period_key(period: str, at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    if period == "daily":
        return local.date().isoformat()
    if period == "monthly":
        return local.strftime("%Y-%m")
    if period == TOTAL:
        return TOTAL
    raise ValueError(f"unknown budget period {period!r}; use one of {', '.join(PERIODS)}")


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def period_start(period: str, key: str, zone: ZoneInfo) -> datetime | None:
    """When the period named by `key` began; None for a lifetime budget."""
    if period == "daily":
        return _local_midnight(date.fromisoformat(key), zone)
    if period == "monthly":
        year, month = (int(part) for part in key.split("-"))
        return _local_midnight(date(year, month, 1), zone)
    return None


def resets_at(period: str, key: str, zone: ZoneInfo) -> datetime | None:
    """When the period named by `key` ends (local midnight); None for a lifetime budget."""
    if period == "daily":
        return _local_midnight(date.fromisoformat(key) + timedelta(days=1), zone)
    if period == "monthly":
        year, month = (int(part) for part in key.split("-"))
        return _local_midnight(date(year + month // 12, month % 12 + 1, 1), zone)
    return None


def describe_reset(reset: datetime | None) -> str:
    """`2026-12-01 00:00 Asia/Shanghai`, or `never` for a lifetime budget."""
    if reset is None:
        return "never"
    return f"{reset:%Y-%m-%d %H:%M} {reset.tzinfo}"
