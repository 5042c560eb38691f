"""A synthetic ledger for the spike-alert tests: rows of calls at given moments
(`calls`), spread evenly (`steady`) or crowded into a loop (`loop`) before NOW, and
the spike settings they are judged by."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from tollgate.alertconfig import AlertSettings
from tollgate.db.models import LEDGER

CNY = 1_000_000_000
NOW = datetime(2026, 11, 30, 12, 2, 30, tzinfo=UTC)
SETTINGS = AlertSettings(
    spike_factor=Decimal(10), spike_window_seconds=300, spike_baseline_seconds=3600,
    spike_min_requests=10,
)  # fmt: skip
_ids = itertools.count()


def calls(engine: Engine, project: str, key: str, at: list[datetime], cost: int = CNY) -> None:
    rows = [
        {
            "request_id": f"r{next(_ids)}",
            "project_id": project,
            "key_id": key,
            "model_requested": "demo",
            "model_served": "demo",
            "provider": "demo",
            "usage_source": "provider",
            "cost_nano": cost,
            "currency": "CNY",
            "status": "ok",
            "started_at": t,
            "recorded_at": t,
        }
        for t in at
    ]
    with engine.begin() as conn:
        conn.execute(insert(LEDGER), rows)


def steady(minutes: int, per_minute: int, until: datetime = NOW) -> list[datetime]:
    """Calls spread evenly over the `minutes` before `until`."""
    step = timedelta(seconds=60 / per_minute)
    return [until - step * (i + 1) for i in range(minutes * per_minute)]


def loop(count: int, over: timedelta, until: datetime = NOW) -> list[datetime]:
    return [until - over * (i + 1) / count for i in range(count)]
