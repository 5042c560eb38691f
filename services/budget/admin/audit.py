"""The audit log's reading side: operator changes newest first, filtered by project,
time and action, a page at a time (what `tollgate audit list` and GET /admin/audit
show). The writing side is audit_log.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from services.budget.admin.errors import AdminError
from services.budget.admin.keys import parse_time
from services.budget.admin.projects import get_project
from tollgate.db import as_utc
from tollgate.db.audit_models import AUDIT_LOG
from tollgate.db.models import PROJECTS

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True)
class AuditQuery:
    project: str | None = None
    since: str | None = None
    until: str | None = None
    action: str | None = None  # budget.set, or budget: every budget.* action
    limit: int = DEFAULT_LIMIT
    before_id: int | None = None  # the page after the one that ended here


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target_kind: str
    target: str
    project_id: str | None
    project: str | None
    before: str | None  # JSON
    after: str | None


def list_audit(engine: Engine, query: AuditQuery) -> tuple[list[AuditEntry], int | None]:
    """(a page of changes newest first, the `before_id` of the next page or None)."""
    limit = query.limit or DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise AdminError(f"'limit' must be a whole number from 1 to {MAX_LIMIT}", "limit")
    log = AUDIT_LOG
    stmt = (
        select(log, PROJECTS.c.name.label("project_name"))
        .select_from(log.outerjoin(PROJECTS, PROJECTS.c.id == log.c.project_id))
        .order_by(log.c.id.desc())
        .limit(limit + 1)
    )
    if query.project:
        stmt = stmt.where(log.c.project_id == get_project(engine, query.project).id)
    if query.since:
        stmt = stmt.where(log.c.at >= parse_time(query.since, "since"))
    if query.until:
        stmt = stmt.where(log.c.at < parse_time(query.until, "until"))
    if query.action:
        action = query.action.strip()
        if not action or len(action) > 40:
            raise AdminError("'action' is an action such as budget.set, or a topic", "action")
        stmt = stmt.where(
            log.c.action == action if "." in action else log.c.action.startswith(f"{action}.")
        )
    if query.before_id is not None:
        stmt = stmt.where(log.c.id < query.before_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        conn.rollback()
    page = [
        AuditEntry(
            id=row.id,
            at=as_utc(row.at),
            actor=row.actor,
            action=row.action,
            target_kind=row.target_kind,
            target=row.target,
            project_id=row.project_id,
            project=row.project_name or row.project_id,
            before=row.before,
            after=row.after,
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return page, page[-1].id if more else None
