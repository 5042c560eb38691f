"""Budget alerts: a threshold crossed by committed spend becomes one alert per budget,
period and threshold (however many replicas see it), delivered to webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection


@dataclass(frozen=True)
class Crossing:
    """Committed spend of one budget in one period moved from `before_nano` to `after_nano`."""

    budget_id: int
    project_id: str
    key_id: str | None
    period: str  # daily | monthly | total
    period_key: str  # e.g. 2026-11-30, 2026-11, total
    limit_nano: int
    currency: str
    thresholds: Sequence[int]  # percents, e.g. (50, 80, 100)
    before_nano: int
    after_nano: int


def record_crossings(conn: Connection, crossings: Sequence[Crossing], now: datetime) -> None:
    """Record, inside the caller's transaction, an alert for each threshold crossed;
    a threshold already recorded for that budget and period is not recorded again."""
    # Filled in by the alerts work (issue 4); budgets call it from settlement.
