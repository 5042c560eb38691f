"""Two budget-service replicas on one PostgreSQL database race 500 concurrent
Authorize calls for one hard budget (invariant 3): committed spend plus open
reservations never passes the limit, and exactly as many calls are allowed as fit."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from tests.e2e.suite import free_port
from tollgate.config import load_settings
from tollgate.db import make_engine
from tollgate.db.models import BUDGET_COUNTERS, HOLDS, RESERVATIONS
from tollgate.grpcutil import aio_channel, check_health, use_internal_credential
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

pytestmark = pytest.mark.postgres

PER_CALL = Decimal("0.126")  # demo: 1000 prompt + 1000 output tokens at CNY 21 / 105 per M
FITS = 150
LIMIT = PER_CALL * FITS + Decimal("0.1")  # room for 150 calls, not 151
SETTLED = 73_500_000  # 1000 prompt + 500 output tokens, in nano-CNY


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `tollgate serve budget` processes on their own ports; their addresses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env.update({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_DATABASE_URL": postgres_url})
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for n, addr in enumerate(addrs):
        with open(tmp_path / f"budget{n}.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tollgate", "serve", "budget"],
                    env={**env, "TOLLGATE_BUDGET_ADDR": addr},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 30
        for n, addr in enumerate(addrs):
            while not check_health(addr, 0.5):
                if processes[n].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / f"budget{n}.log").read_text())
                time.sleep(0.1)
        use_internal_credential(load_settings(env))  # the token the replicas share
        yield addrs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def authorize(rid: str, project: str, key: str) -> budget_pb2.AuthorizeRequest:
    return budget_pb2.AuthorizeRequest(
        request_id=rid,
        caller=common_pb2.Caller(project_id=project, key_id=key),
        model="demo",
        prompt_tokens_estimate=1000,
        max_completion_tokens=1000,
    )


def settle(rid: str, project: str, key: str) -> budget_pb2.SettleRequest:
    return budget_pb2.SettleRequest(
        request_id=rid,
        caller=common_pb2.Caller(project_id=project, key_id=key),
        model="demo",
        usage=common_pb2.Usage(prompt_tokens=1000, completion_tokens=500),
    )


async def burst(addrs: list[str], project: str, key: str, prefix: str, calls: int) -> list[str]:
    """`calls` concurrent Authorize calls split between the replicas, then a Settle of
    each allowed one; the ids allowed."""
    channels = [aio_channel(addr) for addr in addrs]
    stubs = [budget_pb2_grpc.BudgetStub(channel) for channel in channels]
    try:
        ids = [f"{prefix}{i}" for i in range(calls)]
        answers = await asyncio.gather(
            *(
                stubs[i % 2].Authorize(authorize(rid, project, key), timeout=60)
                for i, rid in enumerate(ids)
            )
        )
        allowed = [rid for rid, a in zip(ids, answers, strict=True) if a.decision == a.ALLOWED]
        refused = [a for a in answers if a.decision == a.BUDGET_EXCEEDED]
        assert len(allowed) + len(refused) == calls
        await asyncio.gather(
            *(
                stubs[i % 2].Settle(settle(rid, project, key), timeout=60)
                for i, rid in enumerate(allowed)
            )
        )
        return allowed
    finally:
        for channel in channels:
            await channel.close()


def test_two_replicas_hold_the_hard_limit_under_500_concurrent_calls(
    postgres_url: str, replicas: list[str]
) -> None:
    engine = make_engine(postgres_url, pool_size=2, max_overflow=0)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "race", monthly_budget=LIMIT).id
    key = admin.create_key(engine, "race").info.id
    limit_nano = int(LIMIT * 10**9)

    # Watch the counter the whole time: committed + held must never pass the limit.
    worst = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with engine.connect() as conn:
                row = conn.execute(
                    select(
                        func.coalesce(func.sum(BUDGET_COUNTERS.c.committed_nano), 0),
                        func.coalesce(func.sum(BUDGET_COUNTERS.c.reserved_nano), 0),
                    )
                ).one()
            worst[0] = max(worst[0], int(row[0]) + int(row[1]))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        first = asyncio.run(burst(replicas, project, key, "a", 500))
        # Settling at less than the hold frees room: exactly what fits is allowed again.
        room = limit_nano - FITS * SETTLED
        second = asyncio.run(burst(replicas, project, key, "b", 100))
    finally:
        stop.set()
        watcher.join()

    assert len(first) == FITS
    assert len(second) == room // 126_000_000
    assert 0 < worst[0] <= limit_nano
    with engine.connect() as conn:
        counter = conn.execute(select(BUDGET_COUNTERS)).all()
        settled = conn.execute(
            select(func.count(), func.sum(RESERVATIONS.c.cost_nano)).where(
                RESERVATIONS.c.state == "settled"
            )
        ).one()
        holds = conn.execute(select(func.count()).select_from(HOLDS)).scalar_one()
    (row,) = [c for c in counter if c.committed_nano]
    total = (len(first) + len(second)) * SETTLED
    assert (row.committed_nano, row.reserved_nano, holds) == (total, 0, 0)
    assert (settled[0], settled[1]) == (len(first) + len(second), total)
    assert total <= limit_nano
    engine.dispose()


def test_two_replicas_deciding_batches_of_many_keys_never_deadlock_or_overshoot(
    postgres_url: str, replicas: list[str], tmp_path: Path
) -> None:
    """AuthorizeBatch requests of calls of six keys in shuffled orders, two replicas at
    once: each batch locks the counters of its project and of several keys, so two
    batches locking in different orders would deadlock. Every call is decided (no
    batch falls back to one by one), the project's limit and each key's hold."""
    engine = make_engine(postgres_url, pool_size=2, max_overflow=0)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "mesh", monthly_budget=PER_CALL * 60).id
    keys = [admin.create_key(engine, "mesh").info.id for _ in range(6)]
    for key in keys:  # room for 15 calls a key: 90 in all, more than the project's 60
        budgets.set_budget(engine, "mesh", key_id=key, period="monthly", amount=PER_CALL * 15)
    rng = random.Random(7)

    async def race() -> list[tuple[str, budget_pb2.AuthorizeOutcome]]:
        channels = [aio_channel(addr) for addr in replicas]
        stubs = [budget_pb2_grpc.BudgetStub(channel) for channel in channels]
        batches = []
        for b in range(40):
            calls = [(f"m{b}-{i}", rng.choice(keys)) for i in range(rng.randint(2, 12))]
            batches.append(calls)
        try:
            replies = await asyncio.gather(
                *(
                    stubs[n % 2].AuthorizeBatch(
                        budget_pb2.AuthorizeBatchRequest(
                            calls=[authorize(rid, project, key) for rid, key in calls]
                        ),
                        timeout=60,
                    )
                    for n, calls in enumerate(batches)
                )
            )
        finally:
            for channel in channels:
                await channel.close()
        return [
            (key, outcome)
            for calls, reply in zip(batches, replies, strict=True)
            for (_, key), outcome in zip(calls, reply.outcomes, strict=True)
        ]

    outcomes = asyncio.run(race())
    assert all(outcome.code == 0 for _, outcome in outcomes)
    allowed = [key for key, o in outcomes if o.response.decision == o.response.ALLOWED]
    assert len(outcomes) > 60 and len(allowed) == 60
    assert max(allowed.count(key) for key in keys) <= 15
    with engine.connect() as conn:
        counters = {
            row.budget_id: row.reserved_nano for row in conn.execute(select(BUDGET_COUNTERS))
        }
        holds = conn.execute(select(func.count()).select_from(HOLDS)).scalar_one()
    assert holds == 2 * 60  # each call held on its key and on the project
    assert max(counters.values()) == 60 * 126_000_000
    for n in range(2):
        assert "one by one" not in (tmp_path / f"budget{n}.log").read_text()
    engine.dispose()
