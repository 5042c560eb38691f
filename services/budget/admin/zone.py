"""The budget time zone that days and months are counted in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.budget.periods import zone_of
from tollgate.config import load_settings


def default_zone() -> ZoneInfo:
    """The configured budget time zone (TOLLGATE_BUDGET_TIMEZONE or the YAML's)."""
    return zone_of(load_settings(service="budget").budget_timezone)
