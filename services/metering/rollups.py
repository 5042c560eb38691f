"""Daily rollups of the ledger: one row per UTC day, project, key, model, end user and
currency, holding the sums of that group's ledger rows.

A new ledger row adds itself to its rollup row in the same transaction as its insert,
and a duplicate delivery (the insert did nothing) adds nothing, so every rollup sum
equals the sum of its ledger rows exactly at every commit (invariant 1). The upsert
is one `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`, atomic on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Table, case, cast, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from services.metering.statuses import BILLED as BILLED_STATUSES
from tollgate.db.models import LEDGER, ROLLUPS

# The billed statuses as the ledger stores them (plain strings, for SQL too).
BILLED = tuple(sorted(status.value for status in BILLED_STATUSES))
# Token columns summed from the ledger (billed calls only); cache_write_tokens is
# summed too when the ledger has it (the price-extras migration adds it).
TOKENS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")
SUMS = ("requests", "failed_requests", *TOKENS, "cache_write_tokens", "cost_nano")
GROUP = ("project_id", "day", "key_id", "model", "end_user", "currency")


def day_of(started_at: datetime) -> date:
    """The UTC day a call belongs to (a naive time is UTC, as SQLite hands it back)."""
    aware = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date()


def increments(row: Mapping[str, Any]) -> dict[str, Any]:
    """What one ledger row adds to its rollup row: the group and the amounts."""
    billed = row["status"] in BILLED
    return {
        "project_id": row["project_id"],
        "day": day_of(row["started_at"]),
        "key_id": row["key_id"],
        "model": row["model_served"],
        "end_user": row["end_user"],
        "currency": row["currency"],
        "requests": 1 if billed else 0,
        "failed_requests": 0 if billed else 1,
        **{name: int(row.get(name, 0) or 0) if billed else 0 for name in TOKENS},
        "cache_write_tokens": int(row.get("cache_write_tokens", 0) or 0) if billed else 0,
        "cost_nano": int(row["cost_nano"]),
    }


def _upsert(insert: Callable[[Table], Any]) -> Any:
    statement = insert(ROLLUPS)
    return statement.on_conflict_do_update(
        index_elements=list(GROUP),
        set_={name: ROLLUPS.c[name] + statement.excluded[name] for name in SUMS},
    )


# Built once per dialect (ON CONFLICT is dialect syntax) and run with a row's
# increments as its bound values: building it costs more than running it.
UPSERTS = {"sqlite": _upsert(sqlite.insert), "postgresql": _upsert(postgresql.insert)}


def add_to_rollups(conn: Connection, row: Mapping[str, Any]) -> None:
    """Add one newly inserted ledger row to its rollup; call it in the insert's
    transaction, and only when the insert wrote the row."""
    conn.execute(UPSERTS[conn.dialect.name], increments(row))


def add_many_to_rollups(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """`add_to_rollups` for many new ledger rows: their increments summed per rollup
    row first (one statement may not touch a row twice), upserted in group order."""
    if not rows:
        return
    summed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        adds = increments(row)
        group = tuple(adds[name] for name in GROUP)
        into = summed.get(group)
        if into is None:
            summed[group] = adds
        else:
            for name in SUMS:
                into[name] += adds[name]
    upsert, groups = UPSERTS[conn.dialect.name], sorted(summed)
    if len(groups) == 1:  # one statement's plain form costs less than its many form
        conn.execute(upsert, summed[groups[0]])
    else:
        conn.execute(upsert, [summed[group] for group in groups])


def ledger_day(conn: Connection) -> ColumnElement[Any]:
    """SQL for the UTC day of a ledger row's started_at."""
    if conn.dialect.name == "sqlite":
        return func.date(LEDGER.c.started_at)  # stored as UTC text
    return cast(func.timezone("UTC", LEDGER.c.started_at), Date)


def ledger_sums(conn: Connection) -> list[ColumnElement[Any]]:
    """The rollup amounts as SQL aggregates over ledger rows, in SUMS order."""
    billed = LEDGER.c.status.in_(BILLED)

    def billed_sum(value: Any) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((billed, value), else_=0)), 0)

    cache_write = LEDGER.c.cache_write_tokens if "cache_write_tokens" in LEDGER.c else literal(0)
    return [
        billed_sum(1),
        func.coalesce(func.sum(case((billed, 0), else_=1)), 0),
        *(billed_sum(LEDGER.c[name]) for name in TOKENS),
        billed_sum(cache_write),
        func.coalesce(func.sum(LEDGER.c.cost_nano), 0),
    ]


def rebuild_rollups(conn: Connection) -> int:
    """Recompute every rollup row from the ledger (repair, benchmarks, tests); returns
    the number of rollup rows. Run it in a transaction of its own."""
    day = ledger_day(conn)
    keys = [
        LEDGER.c.project_id,
        day,
        LEDGER.c.key_id,
        LEDGER.c.model_served,
        LEDGER.c.end_user,
        LEDGER.c.currency,
    ]
    conn.execute(delete(ROLLUPS))
    source = select(*keys, *ledger_sums(conn)).group_by(*keys)
    conn.execute(ROLLUPS.insert().from_select([*GROUP, *SUMS], source))
    return int(conn.execute(select(func.count()).select_from(ROLLUPS)).scalar_one())
