"""Per-call records for exports: a project's ledger rows over whole UTC days, in the
order the calls started, read a page at a time.

Each page is its own short read (keyset pagination on (started_at, id), which the
ledger's (project_id, started_at) index serves), so a month of a busy project is
never held in memory, and no transaction stays open while a slow client reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from services.metering.projects import Project
from services.metering.report_messages import money
from services.metering.statuses import CallStatus, RouteReason, UsageSource
from tollgate.db import as_utc, read_transaction
from tollgate.db.models import LEDGER
from tollgate.v1 import common_pb2, metering_pb2

DEFAULT_PAGE = 500
MAX_PAGE = 5_000

_STATUSES = {
    CallStatus.OK: metering_pb2.CALL_STATUS_OK,
    CallStatus.FAILED: metering_pb2.CALL_STATUS_FAILED,
    CallStatus.PARTIAL: metering_pb2.CALL_STATUS_PARTIAL,
    CallStatus.INTERRUPTED: metering_pb2.CALL_STATUS_INTERRUPTED,
}
_SOURCES = {
    UsageSource.PROVIDER: common_pb2.USAGE_SOURCE_PROVIDER,
    UsageSource.ESTIMATED: common_pb2.USAGE_SOURCE_ESTIMATED,
}
# StrEnum keys: a row's stored string finds its member's value.
_REASONS = {r: common_pb2.RouteReason.Value(f"ROUTE_REASON_{r.name}") for r in RouteReason}


def page_size(asked: int) -> int:
    return min(asked, MAX_PAGE) if asked > 0 else DEFAULT_PAGE


def ledger_pages(
    engine: Engine, project_id: str, first: date, last: date, size: int
) -> Iterator[list[Any]]:
    """The project's rows that started on days [first, last] (UTC), `size` a page; the
    last page may be short or empty."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    base = (
        select(LEDGER)
        .where(
            LEDGER.c.project_id == project_id,
            LEDGER.c.started_at >= start,
            LEDGER.c.started_at < end,
        )
        .order_by(LEDGER.c.started_at, LEDGER.c.id)
        .limit(size)
    )
    query = base
    while True:
        with read_transaction(engine) as conn:
            rows = list(conn.execute(query).all())
        yield rows
        if len(rows) < size:
            return
        after = rows[-1]
        query = base.where(
            or_(
                LEDGER.c.started_at > after.started_at,
                and_(LEDGER.c.started_at == after.started_at, LEDGER.c.id > after.id),
            )
        )


def _instant(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_record(row: Any) -> metering_pb2.CallRecord:
    c = row.currency
    return metering_pb2.CallRecord(
        request_id=row.request_id,
        started_at=_instant(row.started_at),
        key_id=row.key_id,
        end_user=row.end_user or "",
        model_requested=row.model_requested,
        model_served=row.model_served,
        provider=row.provider,
        deployment=row.deployment or "",
        status=_STATUSES.get(row.status, metering_pb2.CALL_STATUS_UNSPECIFIED),
        http_status=row.http_status,
        stream=bool(row.stream),
        latency_ms=row.latency_ms,
        usage_source=_SOURCES.get(row.usage_source, common_pb2.USAGE_SOURCE_UNSPECIFIED),
        input_tokens=row.prompt_tokens,
        output_tokens=row.completion_tokens,
        cached_tokens=row.cached_tokens,
        reasoning_tokens=row.reasoning_tokens,
        cache_write_tokens=row.cache_write_tokens,
        cost=money(row.cost_nano, c),
        saved=money(row.saved_nano, c),
        cache_hit=bool(row.cache_hit),
        route_reason=_REASONS.get(row.route_reason, common_pb2.ROUTE_REASON_ASKED),
        attempts=row.attempts,
        compacted_tokens=row.compacted_tokens,
        batch_id=row.batch_id or "",
    )


def call_pages(
    engine: Engine, project: Project, first: date, last: date, size: int
) -> Iterator[metering_pb2.CallsPage]:
    """The export's pages: at least one, each naming the project and the days."""
    for rows in ledger_pages(engine, project.id, first, last, size):
        yield metering_pb2.CallsPage(
            project_id=project.id,
            project=project.name,
            from_day=first.isoformat(),
            to_day=last.isoformat(),
            calls=[call_record(row) for row in rows],
        )
