"""The usage ledger: one row per upstream call, written once whatever the retries.
`add` writes one row in its transaction; `add_many` a batch of rows (unique request
ids) in one, with one statement for the rows and one for their rollups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from services.metering.rollups import add_many_to_rollups, add_to_rollups
from services.metering.statuses import CallStatus, RouteReason, UsageSource
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
    usage_source: UsageSource
    cost_nano: int
    currency: str
    status: CallStatus
    http_status: int
    stream: bool
    latency_ms: int
    started_at: datetime
    cache_write_tokens: int = 0  # part of prompt_tokens written to the prompt cache
    # Routing (see LedgerEntry): what answered, and what the levers saved.
    deployment: str = ""
    attempts: int = 1
    cache_hit: bool = False
    route_reason: RouteReason = RouteReason.ASKED
    saved_nano: int = 0  # reference cost - cost, never negative
    compacted_tokens: int = 0
    batch_id: str = ""  # the Batch API batch the call was a line of


@dataclass(frozen=True)
class Recorded:
    cost_nano: int
    currency: str
    duplicate: bool


def _insert(insert: Callable[[Table], Any], returned: str = "id") -> Any:
    # RETURNING, not rowcount: on PostgreSQL rowcount is -1 (true) even when
    # ON CONFLICT DO NOTHING skipped the row.
    return (
        insert(LEDGER)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(LEDGER.c[returned])
    )


# Built once (per dialect: ON CONFLICT is dialect syntax) and run with bound values:
# building a statement costs more than SQLite running it.
INSERTS = {"sqlite": _insert(sqlite.insert), "postgresql": _insert(postgresql.insert)}
# A batch's rows in one statement (SQLAlchemy's insertmanyvalues); the request ids it
# returns are the rows it wrote, whatever order they come back in.
INSERT_MANY = {
    "sqlite": _insert(sqlite.insert, "request_id"),
    "postgresql": _insert(postgresql.insert, "request_id"),
}
FIND = select(LEDGER.c.cost_nano, LEDGER.c.currency).where(
    LEDGER.c.request_id == bindparam("request_id")
)
FIND_MANY = select(LEDGER.c.request_id, LEDGER.c.cost_nano, LEDGER.c.currency).where(
    LEDGER.c.request_id.in_(bindparam("request_ids", expanding=True))
)


def _values(entry: Entry, recorded_at: datetime) -> dict[str, Any]:
    return {
        **entry.__dict__,
        # Stored as their plain values (str() of a StrEnum), whatever the driver.
        "status": str(entry.status),
        "usage_source": str(entry.usage_source),
        "route_reason": str(entry.route_reason),
        "recorded_at": recorded_at,
    }


class UsageLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = "sqlite" if is_sqlite(engine) else "postgresql"
        self._insert = INSERTS[dialect]
        self._insert_many = INSERT_MANY[dialect]

    def find(self, request_id: str) -> Recorded | None:
        with read_transaction(self.engine) as conn:  # no write lock to read on SQLite
            row = conn.execute(FIND, {"request_id": request_id}).first()
        return Recorded(row.cost_nano, row.currency, True) if row else None

    def add(self, entry: Entry) -> Recorded:
        """Insert the row unless its request id is already there (then keep the first)."""
        values = _values(entry, utcnow())
        with self.engine.begin() as conn:
            inserted = conn.execute(self._insert, values).first() is not None
            if inserted:  # a duplicate adds nothing to the rollups either
                add_to_rollups(conn, values)
        if inserted:
            return Recorded(entry.cost_nano, entry.currency, False)
        found = self.find(entry.request_id)
        assert found is not None
        return found

    def add_many(self, entries: Sequence[Entry]) -> list[Recorded]:
        """`add` for many entries of distinct request ids, in one transaction: all are
        written or none (a DataError or IntegrityError rolls the batch back). One
        answer per entry, in order; an id the ledger held already is a duplicate
        answered with its first row's cost."""
        if len(entries) <= 1:  # one statement's plain form costs less than its many form
            return [self.add(entry) for entry in entries]
        now = utcnow()
        # In request-id order, so that two batches racing on PostgreSQL take the
        # unique index's locks in one order and cannot deadlock.
        rows = sorted((_values(entry, now) for entry in entries), key=lambda v: v["request_id"])
        with self.engine.begin() as conn:
            written = set(conn.execute(self._insert_many, rows).scalars())
            add_many_to_rollups(conn, [row for row in rows if row["request_id"] in written])
        held: dict[str, Recorded] = {}
        if len(written) < len(entries):
            with read_transaction(self.engine) as conn:
                for row in conn.execute(
                    FIND_MANY, {"request_ids": [e.request_id for e in entries]}
                ):
                    held[row.request_id] = Recorded(row.cost_nano, row.currency, True)
        return [
            Recorded(entry.cost_nano, entry.currency, False)
            if entry.request_id in written
            else held[entry.request_id]
            for entry in entries
        ]


def from_unix_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else utcnow()
