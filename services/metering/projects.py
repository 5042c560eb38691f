"""The project an operator names, by its name or its id: metering reads the projects
table (Budget writes it) to resolve names in reports, bills and exports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from tollgate.db import read_transaction
from tollgate.db.models import PROJECTS

NAME_LIMIT = 200  # projects.name


class NoSuchProject(LookupError):
    def __init__(self, name_or_id: str) -> None:
        super().__init__(f"no project named {name_or_id[:NAME_LIMIT]!r}")


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    currency: str


def find_project(engine: Engine, name_or_id: str) -> Project:
    """The project of that name (or id); NoSuchProject when there is none."""
    if not name_or_id or len(name_or_id) > NAME_LIMIT or "\x00" in name_or_id:
        raise NoSuchProject(name_or_id)  # no column holds it (PostgreSQL refuses a NUL)
    query = select(PROJECTS.c.id, PROJECTS.c.name, PROJECTS.c.currency).where(
        (PROJECTS.c.name == name_or_id) | (PROJECTS.c.id == name_or_id)
    )
    with read_transaction(engine) as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise NoSuchProject(name_or_id)
    # A name that is also another project's id: the name wins, as in tollgate.admin.
    row = next((r for r in rows if r.name == name_or_id), rows[0])
    return Project(str(row.id), str(row.name), str(row.currency))
