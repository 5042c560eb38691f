"""SQLite writers of one process queue on a lock of the process (tollgate.db.engine):
held from BEGIN IMMEDIATE to the end of the transaction however it ends, shared by
engines on the same file, and never taken by read-only transactions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from tollgate.db import make_engine, read_transaction
from tollgate.db.engine import sqlite_write_lock


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def _write_in_thread(engine: Engine, events: list[str], name: str) -> threading.Thread:
    def run() -> None:
        with engine.begin() as conn:
            events.append(f"{name} began")
            conn.execute(text("INSERT INTO t VALUES (1)"))
        events.append(f"{name} committed")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _locked(tmp_path: Path) -> bool:
    return sqlite_write_lock(str(tmp_path / "lock.db")).locked()


def test_a_writer_waits_for_the_one_before_it_and_readers_do_not(
    engine: Engine, tmp_path: Path
) -> None:
    events: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _locked(tmp_path)
        other = _write_in_thread(engine, events, "second")
        time.sleep(0.2)
        assert events == []  # still queued behind this transaction
        with read_transaction(engine) as reader:  # a reader is not held up
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    other.join(timeout=10)
    assert events == ["second began", "second committed"]
    assert not _locked(tmp_path)
    with read_transaction(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
        assert not _locked(tmp_path)


def test_a_failed_transaction_gives_the_lock_back(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("the caller failed mid-transaction")
    assert not _locked(tmp_path)
    with engine.connect() as conn:  # autobegin, then closed without commit: a rollback
        conn.execute(text("INSERT INTO t VALUES (2)"))
        assert _locked(tmp_path)
    assert not _locked(tmp_path)
    with pytest.raises(OperationalError), engine.begin() as conn:  # a failed statement
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
    assert not _locked(tmp_path)
    events: list[str] = []
    _write_in_thread(engine, events, "next").join(timeout=10)
    assert events == ["next began", "next committed"]
    with read_transaction(engine) as reader:
        assert reader.execute(text("SELECT n FROM t")).scalars().all() == [1]


def test_engines_on_one_file_share_the_lock(engine: Engine, tmp_path: Path) -> None:
    second = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    events: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        other = _write_in_thread(second, events, "second engine")
        time.sleep(0.2)
        assert events == []
    other.join(timeout=10)
    assert events == ["second engine began", "second engine committed"]


def test_many_writers_all_get_through(engine: Engine, tmp_path: Path) -> None:
    def run() -> None:
        for _ in range(20):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))

    threads = [threading.Thread(target=run) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not _locked(tmp_path)
    with read_transaction(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 16 * 20
