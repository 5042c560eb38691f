"""The daily rollups equal the ledger exactly (invariant 1), on SQLite and PostgreSQL:
after many inserts with duplicate deliveries, under concurrent writers, after a
rebuild, and after the migration backfills them from an existing ledger."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import column, table

from services.metering.ledger import UsageLedger
from services.metering.rollups import rebuild_rollups
from tests.conftest import postgres_schema
from tests.metering.ledger_rows import (
    entry,
    ledger_groups,
    random_entries,
    rollup_groups,
    write,
)
from tollgate.db import make_engine, upgrade
from tollgate.db.models import LEDGER


@pytest.fixture
def ledger(db_url: str) -> Iterator[UsageLedger]:
    engine = make_engine(db_url)
    yield UsageLedger(engine)
    engine.dispose()


def test_rollups_equal_the_ledger_after_inserts_and_duplicates(ledger: UsageLedger) -> None:
    rng = random.Random(4)
    duplicates = write(ledger, random_entries(rng, 250, date(2026, 10, 28), 8), rng)
    assert duplicates > 30  # the duplicates really were delivered
    expected = ledger_groups(ledger.engine)
    assert rollup_groups(ledger.engine) == expected
    assert len(expected) > 50  # many groups, across days and dimensions


def test_a_rebuild_gives_the_same_rollups(ledger: UsageLedger) -> None:
    rng = random.Random(5)
    write(ledger, random_entries(rng, 120, date(2026, 2, 27), 4), rng)
    before = rollup_groups(ledger.engine)
    with ledger.engine.begin() as conn:
        assert rebuild_rollups(conn) == len(before)
    assert rollup_groups(ledger.engine) == before == ledger_groups(ledger.engine)


def test_concurrent_writers_and_redeliveries_keep_rollups_exact(ledger: UsageLedger) -> None:
    """Four writers deliver the same 60 calls in different orders: each lands once,
    and the shared rollup rows are incremented once per call."""
    calls = random_entries(random.Random(6), 60, date(2026, 11, 29), 2)
    errors: list[BaseException] = []

    def deliver(seed: int) -> None:
        order = calls[:]
        random.Random(seed).shuffle(order)
        try:
            for item in order:
                ledger.add(item)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = ledger_groups(ledger.engine)
    assert sum(g["requests"] + g["failed_requests"] for g in expected.values()) == 60
    assert rollup_groups(ledger.engine) == expected


@contextmanager
def database_at(kind: str, revision: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh database migrated only up to `revision`."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, revision)
        yield url
        return
    with postgres_schema(revision) as url:
        yield url


ROUTING_COLUMNS = (
    "deployment",
    "attempts",
    "cache_hit",
    "route_reason",
    "saved_nano",
    "compacted_tokens",
)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_migration_backfills_rollups_from_the_ledger(kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    rows = random_entries(rng, 150, date(2026, 12, 30), 4)
    rows.append(entry("late", datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 3))
    with database_at(kind, "0003", tmp_path) as url:
        engine = make_engine(url)
        now = datetime.now(UTC)
        # The ledger as it stands at 0003: no columns later migrations add.
        later = ("cache_write_tokens", *ROUTING_COLUMNS, "batch_id")  # 0005, 0008, 0010
        columns = [name for name in LEDGER.c.keys() if name != "id" and name not in later]
        old_ledger = table("ledger", *(column(name) for name in columns))
        with engine.begin() as conn:
            conn.execute(
                old_ledger.insert(),
                [{k: {**r.__dict__, "recorded_at": now}[k] for k in columns} for r in rows],
            )
        tokens = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")
        expected = ledger_groups(engine, tokens)
        upgrade(url, "0004")
        counts = ("requests", "failed_requests", *tokens, "cost_nano")
        assert rollup_groups(engine, counts) == expected
        assert ("p1", date(2026, 12, 31), "k1", "m1", "", "CNY") in expected
        cache_writes = rollup_groups(engine, ("cache_write_tokens",)).values()
        assert {g["cache_write_tokens"] for g in cache_writes} == {0}
        engine.dispose()
