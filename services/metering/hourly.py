"""A project's spend hour by hour (UTC), for the dashboard's hourly chart.

The daily rollups hold whole days only, so hours are summed from the ledger itself,
over its (project_id, started_at) index and a few days at most. Every hour of the
range appears, oldest first: an hour with no calls is at zero in the project's
currency, and amounts in different currencies are never added (one entry each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, cast, func, literal_column, select

from services.metering.projects import find_project
from services.metering.refusals import invalid
from services.metering.report_messages import money
from tollgate.db import is_sqlite, read_transaction
from tollgate.db.models import LEDGER
from tollgate.v1 import metering_pb2

DEFAULT_HOURS = 24
MAX_HOURS = 168


@dataclass
class HourSums:
    cost_nano: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_hits: int = 0


def hours_asked(asked: int) -> int:
    if asked == 0:
        return DEFAULT_HOURS
    if not 1 <= asked <= MAX_HOURS:
        raise invalid("hours", ValueError(f"hours: {asked} is not from 1 to {MAX_HOURS}"))
    return asked


def _hour_label(engine: Engine) -> Any:
    """The row's UTC hour as "YYYY-MM-DD HH", in the database's own terms."""
    if is_sqlite(engine):  # stored as UTC text, "YYYY-MM-DD HH:MM:SS..."
        return func.substr(cast(LEDGER.c.started_at, String), 1, 13)
    return func.to_char(
        LEDGER.c.started_at.op("AT TIME ZONE")(literal_column("'UTC'")), "YYYY-MM-DD HH24"
    )


def hourly_sums(
    engine: Engine, project_id: str, start: datetime, end: datetime
) -> dict[tuple[str, str], HourSums]:
    """(hour label, currency) -> sums of the project's rows started in [start, end)."""
    hour = _hour_label(engine).label("hour")
    query = (
        select(
            hour,
            LEDGER.c.currency,
            func.count(),
            func.coalesce(func.sum(LEDGER.c.cost_nano), 0),
            func.coalesce(func.sum(LEDGER.c.prompt_tokens), 0),
            func.coalesce(func.sum(LEDGER.c.completion_tokens), 0),
            func.coalesce(func.sum(LEDGER.c.cached_tokens), 0),
            func.count().filter(LEDGER.c.cache_hit.is_(True)),
        )
        .where(
            LEDGER.c.project_id == project_id,
            LEDGER.c.started_at >= start,
            LEDGER.c.started_at < end,
        )
        .group_by(hour, LEDGER.c.currency)
    )
    with read_transaction(engine) as conn:
        rows = conn.execute(query).all()
    return {
        (str(r[0]), str(r[1])): HourSums(
            cost_nano=int(r[3]),
            requests=int(r[2]),
            input_tokens=int(r[4]),
            output_tokens=int(r[5]),
            cached_tokens=int(r[6]),
            cache_hits=int(r[7]),
        )
        for r in rows
    }


def hourly_spend(
    engine: Engine, request: metering_pb2.HourlySpendRequest, now: datetime | None = None
) -> metering_pb2.HourlySpendResponse:
    if not request.project:
        raise invalid("project", ValueError("project: name the project"))
    count = hours_asked(request.hours)
    project = find_project(engine, request.project)
    current = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=count - 1)
    sums = hourly_sums(engine, project.id, first, current + timedelta(hours=1))
    currencies = sorted({currency for _, currency in sums} | {project.currency})
    reply = metering_pb2.HourlySpendResponse(project_id=project.id, project=project.name)
    for step in range(count):
        start = first + timedelta(hours=step)
        label = start.strftime("%Y-%m-%d %H")
        for currency in currencies:
            found = sums.get((label, currency))
            if found is None and currency != project.currency:
                continue
            found = found or HourSums()
            reply.hours.append(
                metering_pb2.HourlySpend(
                    hour=start.strftime("%Y-%m-%dT%H:00:00Z"),
                    total=money(found.cost_nano, currency),
                    requests=found.requests,
                    input_tokens=found.input_tokens,
                    output_tokens=found.output_tokens,
                    cached_tokens=found.cached_tokens,
                    cache_hits=found.cache_hits,
                )
            )
    return reply
