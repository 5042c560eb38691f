"""Engines for SQLite (the single-machine default) and PostgreSQL.

On SQLite every transaction starts with BEGIN IMMEDIATE, which takes the database's
write lock up front: read-check-write sequences (a budget check, an idempotent insert)
are then atomic across processes, not just threads. On PostgreSQL the same sequences
lock the rows they read (SELECT ... FOR UPDATE).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

READ_ONLY = "tollgate_read_only"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Enough connections for every worker thread of a service: waiting for a pooled
    # connection is pure added latency.
    kwargs.setdefault("pool_size", 32)
    kwargs.setdefault("max_overflow", 32)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: on SQLite it does not take the write lock."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{READ_ONLY: True})
        with conn.begin():
            yield conn


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
