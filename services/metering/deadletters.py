"""The dead-letter table: usage records that could not be written as they came.

One row per request id (the id as written to the ledger), holding the record's
protobuf bytes exactly as they arrived and why they could not be stored. The call is
still billed (with the offending fields made safe, see safety.py); the row is for an
operator, who is alerted once through Budget's alert webhooks (`alerted_at`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tollgate.db import is_sqlite, read_transaction, utcnow
from tollgate.db.models import DEAD_LETTERS

ERROR_LIMIT = 1000


@dataclass(frozen=True)
class DeadLetter:
    request_id: str
    project_id: str
    error: str
    created_at: datetime
    alerted: bool


def _insert(insert: Any) -> Any:
    return (
        insert(DEAD_LETTERS)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(DEAD_LETTERS.c.id)
    )


INSERTS = {"sqlite": _insert(sqlite.insert), "postgresql": _insert(postgresql.insert)}


class DeadLetters:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = INSERTS["sqlite" if is_sqlite(engine) else "postgresql"]

    def add(
        self, request_id: str, project_id: str, raw: bytes, error: str
    ) -> tuple[DeadLetter, bool]:
        """Keep the record unless its request id is kept already: the row kept, and
        whether it is new."""
        row = {
            "request_id": request_id,
            "project_id": project_id,
            "record": raw,
            "error": error[:ERROR_LIMIT],
            "created_at": utcnow(),
            "alerted_at": None,
        }
        with self.engine.begin() as conn:
            new = conn.execute(self._insert, row).first() is not None
        found = self.find(request_id)
        assert found is not None
        return found, new

    def find(self, request_id: str) -> DeadLetter | None:
        with read_transaction(self.engine) as conn:
            row = conn.execute(
                select(DEAD_LETTERS).where(DEAD_LETTERS.c.request_id == request_id)
            ).first()
        return _letter(row) if row else None

    def mark_alerted(self, request_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(DEAD_LETTERS)
                .where(DEAD_LETTERS.c.request_id == request_id)
                .values(alerted_at=utcnow())
            )

    def count(self) -> int:
        with read_transaction(self.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(DEAD_LETTERS)).scalar_one())

    def latest(self, limit: int) -> list[DeadLetter]:
        if limit <= 0:
            return []
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.id.desc()).limit(limit)
            ).all()
        return [_letter(row) for row in rows]


def _letter(row: Any) -> DeadLetter:
    return DeadLetter(
        row.request_id, row.project_id, row.error, row.created_at, row.alerted_at is not None
    )
