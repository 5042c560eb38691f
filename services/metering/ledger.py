"""The usage ledger: one row per upstream call, written once whatever the retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from services.metering.rollups import add_to_rollups
from tollgate.db import is_sqlite, read_transaction, utcnow
from tollgate.db.models import LEDGER


@dataclass(frozen=True)
class Entry:
    request_id: str
    project_id: str
    key_id: str
    end_user: str
    model_requested: str
    model_served: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage_source: str  # provider | estimated
    cost_nano: int
    currency: str
    status: str  # ok | failed | partial
    http_status: int
    stream: bool
    latency_ms: int
    started_at: datetime
    cache_write_tokens: int = 0  # part of prompt_tokens written to the prompt cache


@dataclass(frozen=True)
class Recorded:
    cost_nano: int
    currency: str
    duplicate: bool


def _insert(insert: Callable[[Table], Any]) -> Any:
    # RETURNING, not rowcount: on PostgreSQL rowcount is -1 (true) even when
    # ON CONFLICT DO NOTHING skipped the row.
    return (
        insert(LEDGER).on_conflict_do_nothing(index_elements=["request_id"]).returning(LEDGER.c.id)
    )


# Built once (per dialect: ON CONFLICT is dialect syntax) and run with bound values:
# building a statement costs more than SQLite running it.
INSERTS = {"sqlite": _insert(sqlite.insert), "postgresql": _insert(postgresql.insert)}
FIND = select(LEDGER.c.cost_nano, LEDGER.c.currency).where(
    LEDGER.c.request_id == bindparam("request_id")
)


class UsageLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = INSERTS["sqlite" if is_sqlite(engine) else "postgresql"]

    def find(self, request_id: str) -> Recorded | None:
        with read_transaction(self.engine) as conn:  # no write lock to read on SQLite
            row = conn.execute(FIND, {"request_id": request_id}).first()
        return Recorded(row.cost_nano, row.currency, True) if row else None

    def add(self, entry: Entry) -> Recorded:
        """Insert the row unless its request id is already there (then keep the first)."""
        values = {**entry.__dict__, "recorded_at": utcnow()}
        with self.engine.begin() as conn:
            inserted = conn.execute(self._insert, values).first() is not None
            if inserted:  # a duplicate adds nothing to the rollups either
                add_to_rollups(conn, values)
        if inserted:
            return Recorded(entry.cost_nano, entry.currency, False)
        found = self.find(entry.request_id)
        assert found is not None
        return found


def from_unix_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else utcnow()
