"""Downgrade instead of refuse: when a project is past its downgrade threshold, a call
that names a cheaper mapping (AuthorizeRequest.downgrade_model; the gateway names
none for high-priority calls) is reserved and served at that model (DOWNGRADED)
instead of being refused at the hard limit later.

A project is past its threshold when, for any hard budget that applies to the call,
- `downgrade_at_percent` is set and spent + reserved >= that percent of the limit, or
- `downgrade_on_forecast` is on, the budget is monthly, and the month-end run-rate
  forecast passes the limit: spent x (month length / time elapsed), with at least one
  day counted as elapsed so the first hours of a month do not extrapolate wildly.
  (Budget's own counters decide, on the request path; the report's forecast, from
  metering's 7-day window, may differ.)

The decision is made on the counters the reservation has locked, so it is the state
the reservation itself sees. The first time in a period that a project is served a
downgrade, one alert event (kind `downgrade`) is recorded; the unique index of
alert events keeps it to one however many replicas race."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, select

from services.budget.alerts.events import event_row, insert_event
from services.budget.budgets import BudgetRule, Counter, CounterId
from services.budget.periods import period_start, resets_at
from tollgate.db.routing_models import PROJECT_POLICIES
from tollgate.money import format_amount

KIND = "downgrade"
MIN_ELAPSED = timedelta(days=1)
POLICY = select(
    PROJECT_POLICIES.c.downgrade_at_percent, PROJECT_POLICIES.c.downgrade_on_forecast
).where(PROJECT_POLICIES.c.project_id == bindparam("project_id"))


@dataclass(frozen=True)
class Threshold:
    at_percent: int | None
    on_forecast: bool


@dataclass(frozen=True)
class Passed:
    """Why a project is in downgrade mode: this budget, in this period."""

    rule: BudgetRule
    period_key: str
    used_nano: int
    forecast: bool  # passed by the forecast, not the percentage


def threshold_of(conn: Connection, project_id: str) -> Threshold | None:
    """The project's downgrade threshold; None when it has none."""
    row = conn.execute(POLICY, {"project_id": project_id}).first()
    if row is None or (row.downgrade_at_percent is None and not row.downgrade_on_forecast):
        return None
    return Threshold(row.downgrade_at_percent, bool(row.downgrade_on_forecast))


def month_forecast_nano(committed_nano: int, key: str, now: datetime, zone: ZoneInfo) -> int:
    start, end = period_start("monthly", key, zone), resets_at("monthly", key, zone)
    assert start is not None and end is not None
    elapsed = max(now - start, MIN_ELAPSED)
    length = end - start
    # Exact in integers: microseconds of the month over microseconds elapsed.
    whole, part = length // timedelta(microseconds=1), elapsed // timedelta(microseconds=1)
    return committed_nano * whole // part


def passed(
    threshold: Threshold,
    rules: Iterable[BudgetRule],
    held: Mapping[int, CounterId],
    counters: Mapping[CounterId, Counter],
    now: datetime,
    zone: ZoneInfo,
) -> Passed | None:
    """The first hard budget past the threshold, or None."""
    for rule in rules:
        counter = counters[held[rule.id]]
        used = counter.committed_nano + counter.reserved_nano
        key = held[rule.id][1]
        at = threshold.at_percent
        if at is not None and 100 * used >= at * rule.amount_nano:
            return Passed(rule, key, used, forecast=False)
        if threshold.on_forecast and rule.period == "monthly":
            if month_forecast_nano(counter.committed_nano, key, now, zone) > rule.amount_nano:
                return Passed(rule, key, used, forecast=True)
    return None


def record_alert(
    conn: Connection, project: Any, reason: Passed, model: str, downgrade_to: str, now: datetime
) -> bool:
    """One alert per project and period when it enters downgrade mode; False when this
    period's alert exists already."""
    rule, cur = reason.rule, project.currency
    why = (
        "its month-end forecast passes"
        if reason.forecast
        else f"{format_amount(reason.used_nano)} of {cur} {format_amount(rule.amount_nano)} "
        "is spent or held, past its downgrade threshold of"
    )
    message = (
        f"tollgate downgrade: project {project.name} entered downgrade mode for "
        f"{reason.period_key}: {why} its {rule.period} budget; low and medium priority "
        f"calls are served by their cheaper mapping (first: {model} -> {downgrade_to})"
    )
    row = event_row(
        now,
        kind=KIND,
        subject=f"project:{project.id}"[:80],
        budget_id=rule.id,
        project_id=project.id,
        key_id=rule.key_id,
        period=rule.period,
        period_key=reason.period_key,
        threshold=0,
        limit_nano=rule.amount_nano,
        amount_nano=reason.used_nano,
        currency=cur,
        message=message[:1000],
    )
    return insert_event(conn, row) is not None
