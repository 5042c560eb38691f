"""Rate limits of projects and keys (the rate_limits table, which gateways read).

Input is checked first and written in one transaction: bad input (an unknown project,
a key of another project, a limit that is not a positive whole number) writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, delete, select

from services.budget.admin.audit_log import Target, audited
from services.budget.admin.errors import AdminError, NotFound
from services.budget.admin.projects import ProjectInfo, get_project
from tollgate.db import as_utc, utcnow
from tollgate.db.models import API_KEYS, PROJECTS, RATE_LIMITS

LIMITS = ("rpm", "tpm", "max_concurrent")
# A limit given as this (or None in the API) removes that one limit.
NO_LIMIT = "none"
# Past this a limit is no limit, and it must fit the columns.
MAX_LIMIT = 2**31 - 1


class LimitError(AdminError):
    """Bad rate-limit input; the message says what to fix."""


@dataclass(frozen=True)
class LimitInfo:
    project: str
    project_id: str
    key_id: str | None
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None
    updated_at: str  # ISO 8601, UTC

    @property
    def owner(self) -> str:
        return self.project if self.key_id is None else f"{self.project}/{self.key_id}"


def parse_limit(name: str, value: object) -> int | None:
    """A positive whole number, or None for "none" (no limit)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == NO_LIMIT):
        return None
    if isinstance(value, bool):
        raise LimitError(f"{name} must be a positive whole number or 'none', not {value!r}", name)
    try:
        number = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        number = None
    if not isinstance(number, int) or not 1 <= number <= MAX_LIMIT:
        raise LimitError(f"{name} must be a positive whole number or 'none', not {value!r}", name)
    return number


def _owner(engine: Engine, project: str, key_id: str | None) -> tuple[ProjectInfo, str]:
    """The project, and the owner id of the limits (the key's when one is named)."""
    owner = get_project(engine, project)
    if key_id is None:
        return owner, owner.id
    with engine.connect() as conn:
        key_project = conn.execute(
            select(API_KEYS.c.project_id).where(API_KEYS.c.id == key_id)
        ).scalar()
        conn.rollback()
    if key_project is None:
        raise NotFound(f"no key with id {key_id!r}")
    if key_project != owner.id:
        raise LimitError(f"key {key_id!r} does not belong to project {owner.name!r}", "key_id")
    return owner, key_id


def _info(row: Row[Any]) -> LimitInfo:
    return LimitInfo(
        project=row.name,
        project_id=row.project_id,
        key_id=row.key_id,
        rpm=row.rpm,
        tpm=row.tpm,
        max_concurrent=row.max_concurrent,
        updated_at=as_utc(row.updated_at).isoformat(),
    )


def _select() -> Any:
    return select(RATE_LIMITS, PROJECTS.c.name).join(
        PROJECTS, PROJECTS.c.id == RATE_LIMITS.c.project_id
    )


def set_limits(
    engine: Engine, project: str, *, key_id: str | None = None, **given: object
) -> LimitInfo | None:
    """Set some of rpm, tpm and max_concurrent of a project or one of its keys; the
    others stay as they are. None is returned when no limit is left (row deleted)."""
    unknown = set(given) - set(LIMITS)
    if unknown:
        first = sorted(unknown)[0]
        raise LimitError(f"unknown limit {first!r}; use {', '.join(LIMITS)}", first)
    if not given:
        raise LimitError("name at least one limit: --rpm, --tpm or --concurrency")
    values = {name: parse_limit(name, value) for name, value in given.items()}
    info, owner_id = _owner(engine, project, key_id)
    where = RATE_LIMITS.c.owner_id == owner_id
    target = _target(info, key_id)
    with engine.begin() as conn, audited(conn, "limits.set", target, RATE_LIMITS, where):
        row = conn.execute(select(RATE_LIMITS).where(where)).first()
        merged = {name: None if row is None else getattr(row, name) for name in LIMITS}
        merged.update(values)
        if all(merged[name] is None for name in LIMITS):
            conn.execute(delete(RATE_LIMITS).where(where))
            return None
        if row is None:
            conn.execute(
                RATE_LIMITS.insert().values(
                    owner_id=owner_id,
                    project_id=info.id,
                    key_id=key_id,
                    updated_at=utcnow(),
                    **merged,
                )
            )
        else:
            conn.execute(RATE_LIMITS.update().where(where).values(updated_at=utcnow(), **merged))
        return _info(conn.execute(_select().where(where)).one())


def list_limits(engine: Engine, project: str | None = None) -> list[LimitInfo]:
    query = _select()
    if project is not None:
        query = query.where(RATE_LIMITS.c.project_id == get_project(engine, project).id)
    # A project's own limits first, then its keys'.
    query = query.order_by(PROJECTS.c.name, RATE_LIMITS.c.key_id.is_not(None), RATE_LIMITS.c.key_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        conn.rollback()
    return [_info(row) for row in rows]


def clear_limits(engine: Engine, project: str, *, key_id: str | None = None) -> bool:
    """Remove every limit of a project or key; False when it had none."""
    info, owner_id = _owner(engine, project, key_id)
    where = RATE_LIMITS.c.owner_id == owner_id
    target = _target(info, key_id)
    with engine.begin() as conn, audited(conn, "limits.clear", target, RATE_LIMITS, where):
        gone = conn.execute(delete(RATE_LIMITS).where(where))
    return bool(gone.rowcount)


def _target(project: ProjectInfo, key_id: str | None) -> Target:
    name = project.name if key_id is None else f"{project.name}/key/{key_id}"
    return Target("limits", name, project.id)
