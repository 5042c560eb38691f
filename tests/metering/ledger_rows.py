"""Ledger rows for the report tests: written through the real UsageLedger, and summed
again here, independently of the rollup code, to check it against."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from services.metering.ledger import Entry, UsageLedger
from tollgate.db.models import LEDGER, PROJECTS, ROLLUPS

BILLED = {"ok", "partial"}
TOKENS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")
# The price-extras work adds cache_write_tokens to the ledger; summed once it is there.
TOKENS += ("cache_write_tokens",) if "cache_write_tokens" in LEDGER.c else ()
COUNTS = ("requests", "failed_requests", *TOKENS, "cost_nano")
GROUP_COLUMNS = ("project_id", "started_at", "key_id", "model_served", "end_user", "currency")


def make_project(engine: Engine, project_id: str, name: str, created: datetime) -> None:
    """A project row as admin makes it, with a chosen creation time."""
    with engine.begin() as conn:
        conn.execute(
            PROJECTS.insert().values(id=project_id, name=name, currency="CNY", created_at=created)
        )


def entry(request_id: str, started_at: datetime, cost_nano: int, **kw: Any) -> Entry:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "project_id": "p1",
        "key_id": "k1",
        "end_user": "",
        "model_requested": "m1",
        "model_served": "m1",
        "provider": "demo",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 2,
        "reasoning_tokens": 1,
        "usage_source": "provider",
        "cost_nano": cost_nano,
        "currency": "CNY",
        "status": "ok",
        "http_status": 200,
        "stream": False,
        "latency_ms": 5,
        "started_at": started_at,
        **kw,
    }
    if "cache_write_tokens" in Entry.__dataclass_fields__:
        fields.setdefault("cache_write_tokens", 3)
    return Entry(**fields)


def random_entries(rng: random.Random, count: int, first_day: date, days: int) -> list[Entry]:
    """Calls spread over projects, keys, models, users and days, near midnight too."""
    out = []
    for i in range(count):
        day = first_day + timedelta(days=rng.randrange(days))
        moment = rng.choice(
            [
                timedelta(0),
                timedelta(days=1, microseconds=-1),
                timedelta(seconds=rng.random() * 86400),
            ]
        )
        status = rng.choice(["ok", "ok", "ok", "partial", "failed"])
        billed = status != "failed"
        out.append(
            entry(
                f"r{i}",
                datetime(day.year, day.month, day.day, tzinfo=UTC) + moment,
                rng.randrange(10**12) if billed else 0,
                project_id=rng.choice(["p1", "p2", "p3"]),
                key_id=rng.choice(["k1", "k2"]),
                model_served=rng.choice(["gpt-4o", "demo", "claude"]),
                end_user=rng.choice(["", "alice", "bob"]),
                status=status,
                prompt_tokens=rng.randrange(10**6) if billed else 0,
                completion_tokens=rng.randrange(10**5) if billed else 0,
                cached_tokens=rng.randrange(100),
                reasoning_tokens=rng.randrange(100),
            )
        )
    return out


def write(ledger: UsageLedger, entries: Iterable[Entry], rng: random.Random) -> int:
    """Write each entry, re-sending some (with other amounts, which must be ignored);
    returns how many deliveries were duplicates."""
    duplicates = 0
    for item in entries:
        assert not ledger.add(item).duplicate
        if rng.random() < 0.3:
            again = replace(item, cost_nano=item.cost_nano + 1, prompt_tokens=7)
            assert ledger.add(again).duplicate
            duplicates += 1
    return duplicates


def ledger_groups(
    engine: Engine, tokens: tuple[str, ...] = TOKENS
) -> dict[tuple[Any, ...], dict[str, int]]:
    """The ledger summed per rollup group, in Python from the raw rows."""
    counts = ("requests", "failed_requests", *tokens, "cost_nano")
    groups: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: dict.fromkeys(counts, 0))
    columns = [*GROUP_COLUMNS, "status", *tokens, "cost_nano"]
    with engine.connect() as conn:
        rows = conn.execute(select(*(LEDGER.c[c] for c in columns))).mappings().all()
    for row in rows:
        started = row["started_at"]
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        key = (
            row["project_id"],
            started.astimezone(UTC).date(),
            row["key_id"],
            row["model_served"],
            row["end_user"],
            row["currency"],
        )
        sums = groups[key]
        billed = row["status"] in BILLED
        sums["requests"] += billed
        sums["failed_requests"] += not billed
        for name in tokens:
            sums[name] += row[name] if billed else 0
        sums["cost_nano"] += row["cost_nano"]
    return dict(groups)


def rollup_groups(
    engine: Engine, counts: tuple[str, ...] = COUNTS
) -> dict[tuple[Any, ...], dict[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ROLLUPS)).mappings().all()
    return {
        (r["project_id"], r["day"], r["key_id"], r["model"], r["end_user"], r["currency"]): {
            name: int(r[name]) for name in counts
        }
        for r in rows
    }
