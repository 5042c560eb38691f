"""A project's latest calls, newest first, for the dashboard's recent calls: one short
read of at most MAX_CALLS ledger rows on the (project_id, started_at) index, however
many calls the project makes a day (ExportCalls, by contrast, reads whole days)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from services.metering.calls import call_record
from services.metering.projects import find_project
from services.metering.refusals import invalid
from tollgate.db import as_utc, read_transaction
from tollgate.db.models import LEDGER
from tollgate.v1 import metering_pb2

DEFAULT_CALLS = 50
MAX_CALLS = 500


def recent_calls(
    engine: Engine, request: metering_pb2.RecentCallsRequest
) -> metering_pb2.CallsPage:
    if not request.project:
        raise invalid("project", ValueError("project: name the project"))
    if not 0 <= request.limit <= MAX_CALLS:
        raise invalid("limit", ValueError(f"limit: {request.limit} is not from 1 to {MAX_CALLS}"))
    project = find_project(engine, request.project)
    query = (
        select(LEDGER)
        .where(LEDGER.c.project_id == project.id)
        .order_by(LEDGER.c.started_at.desc(), LEDGER.c.id.desc())
        .limit(request.limit or DEFAULT_CALLS)
    )
    with read_transaction(engine) as conn:
        rows = conn.execute(query).all()
    days = [as_utc(row.started_at).date().isoformat() for row in rows]
    return metering_pb2.CallsPage(
        project_id=project.id,
        project=project.name,
        from_day=min(days, default=""),
        to_day=max(days, default=""),
        calls=[call_record(row) for row in rows],
    )
