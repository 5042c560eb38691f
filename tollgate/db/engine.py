"""Engines for SQLite (the single-machine default) and PostgreSQL.

On SQLite every transaction starts with BEGIN IMMEDIATE, which takes the database's
write lock up front: read-check-write sequences (a budget check, an idempotent insert)
are then atomic across processes, not just threads. The threads of one process queue
for that lock on a lock of their own first: SQLite's busy handler makes a waiter sleep
(1, 2, 5 ... up to 100 ms at a time) and can starve it for seconds under load, while a
thread waiting on a Python lock wakes as soon as the writer before it commits. On
PostgreSQL the same sequences lock the rows they read (SELECT ... FOR UPDATE).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

READ_ONLY = "tollgate_read_only"
SIDE_FILES = ("-wal", "-shm", "-journal")
BUSY_TIMEOUT_SECONDS = 30

_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def sqlite_write_lock(database: str) -> threading.Lock:
    """The lock this process's writers of one SQLite file queue on (shared by engines)."""
    if not database or database == ":memory:":
        return threading.Lock()  # a database of this engine's own
    with _write_locks_guard:
        return _write_locks.setdefault(str(Path(database).resolve()), threading.Lock())


class _LockingConnection(sqlite3.Connection):
    """A SQLite connection that gives back the process's write lock, if it holds it,
    once its transaction ends (or the connection closes)."""

    write_lock: threading.Lock | None = None

    def hold_write_lock(self, lock: threading.Lock) -> None:
        if not lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        self.write_lock = lock

    def release_write_lock(self) -> None:
        lock, self.write_lock = self.write_lock, None
        if lock is not None:
            lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_write_lock()


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents readable by this user only (0700). A folder
    that already exists keeps its mode: it may be one the operator chose to share."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # whatever the umask


def make_private_database(database: Path) -> None:
    """Make the SQLite file (and the -wal and -shm files SQLite gives its mode) readable
    and writable by this user only (0600), creating it and its folder (0700) if need be.
    The database holds every project's spend and key hashes: no one else may read it."""
    make_private_dir(database.parent)
    try:  # created 0600 before SQLite opens it, so it is never readable by others
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for path in (database, *(database.with_name(database.name + s) for s in SIDE_FILES)):
        try:
            path.chmod(0o600)
        except FileNotFoundError:
            pass  # -wal and -shm exist only while the database is open
        except PermissionError:
            pass  # another user's file: its owner set its mode


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Enough connections for every worker thread of a service: waiting for a pooled
    # connection is pure added latency.
    kwargs.setdefault("pool_size", 32)
    kwargs.setdefault("max_overflow", 32)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
            make_private_database(Path(parsed.database))
        write_lock = sqlite_write_lock(parsed.database or "")
        connect_args = {
            "timeout": BUSY_TIMEOUT_SECONDS,
            "check_same_thread": False,
            "factory": _LockingConnection,
        }
        engine = create_engine(url, connect_args=connect_args, **kwargs)

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
            if conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_connection = conn.connection.dbapi_connection
            dbapi_connection.hold_write_lock(write_lock)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_connection.release_write_lock()
                raise

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
