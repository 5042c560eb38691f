"""The batch runner against a real database (SQLite and PostgreSQL) and the router's
own servicer on the demo provider: every line runs once through the router's path,
its usage record tagged with its batch; two runners never run one line; a dead
runner's line runs again once its lease runs out; a cancel releases the holds of
lines that never ran; a batch past its window expires with its unrun lines in the
error file; output files are OpenAI's batch output lines."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, update

from services.router.batch import finalize, leases
from services.router.batch.files import file_content
from services.router.batch.lines import BatchRecorder
from services.router.batch.runner import BatchRunner
from services.router.batch.store import cancel_batch, create_batch, find_batch
from services.router.providers.base import ChatCall, UpstreamError
from services.router.providers.demo import DemoProvider
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate.batch_config import BatchSettings
from tollgate.config import ProviderConfig, Route
from tollgate.db.batch_models import BATCH_LINES, BATCHES
from tollgate.v1 import batch_pb2, budget_pb2

PROJECT = "proj_batch"


def synchronous(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (its fixtures pass through)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


SETTINGS = BatchSettings(concurrency=3, poll_seconds=0.01, lease_seconds=30)


class FailingProvider:
    """An upstream that is down: every chat call fails with a 503."""

    name = "down"

    async def complete(self, call: ChatCall) -> Any:
        raise UpstreamError(503, "server_error", "unavailable", "The upstream is down.")

    async def aclose(self) -> None:
        return None


class Budget:
    """Budget's Release, recorded."""

    def __init__(self) -> None:
        self.released: list[str] = []

    async def Release(self, request: budget_pb2.ReleaseRequest, timeout: float) -> Any:
        self.released.append(request.request_id)
        return budget_pb2.ReleaseResponse()


@pytest.fixture
def engine(db_url: str) -> Any:
    made = create_engine(db_url)
    yield made
    made.dispose()


def runner(
    engine: Engine, owner: str, budget: Budget | None = None
) -> tuple[BatchRunner, ListRecorder]:
    recorder = ListRecorder()
    tagged = BatchRecorder(recorder)
    routes = {
        "demo": Route("demo", "demo", "demo", "demo"),
        "demo-embedding": Route("demo-embedding", "demo-embedding", "demo", "demo"),
        "down-model": Route("down-model", "down-model", "down", "openai"),
    }
    demo = DemoProvider(ProviderConfig("demo", "demo", ("demo", "demo-embedding")))
    servicer = RouterServicer(routes, {"demo": demo, "down": FailingProvider()}, tagged)  # type: ignore[dict-item]
    made = BatchRunner(engine, servicer, tagged, budget or Budget(), SETTINGS, owner)  # type: ignore[arg-type]
    return made, recorder


def new_batch(
    engine: Engine, batch_id: str, models: list[str], endpoint: str = "/v1/chat/completions"
) -> None:
    header = batch_pb2.BatchHeader(
        batch_id=batch_id,
        project_id=PROJECT,
        key_id="key_batch",
        input_file_id="file-x",
        endpoint=endpoint,
        completion_window="24h",
        status=batch_pb2.BATCH_STATUS_VALIDATING,
        completion_window_seconds=86400,
    )
    lines = []
    for n, model in enumerate(models, 1):
        if endpoint == "/v1/embeddings":
            body: dict[str, Any] = {"model": model, "input": f"text {n}"}
        else:
            body = {"model": model, "messages": [{"role": "user", "content": f"line {n}"}]}
        lines.append(
            batch_pb2.BatchLine(
                line=n,
                custom_id=f"c-{n}",
                request_id=f"{batch_id}-{n}",
                model=model,
                body=json.dumps(body).encode(),
            )
        )
    create_batch(engine, header, lines)


async def run_until(made: BatchRunner, engine: Engine, batch_id: str, *states: str) -> Any:
    for _ in range(500):
        await made.tick()
        await asyncio.sleep(0.01)
        row = find_batch(engine, PROJECT, batch_id)
        if row.status in states:
            return row
    raise AssertionError(f"batch {batch_id} never reached {states}")


def output(engine: Engine, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    content = file_content(engine, PROJECT, file_id)
    assert content is not None
    return [json.loads(line) for line in content.decode().splitlines()]


@synchronous
async def test_every_line_runs_once_and_its_record_carries_the_batch(engine: Engine) -> None:
    made, recorder = runner(engine, "r1")
    new_batch(engine, "batch_a", ["demo", "demo", "down-model", "demo"])
    done = await run_until(made, engine, "batch_a", "completed")
    assert (done.total, done.completed, done.failed) == (4, 3, 1)
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    usage = [r.usage for r in recorder.records]
    assert done.input_tokens == sum(u.prompt_tokens for u in usage) > 0
    assert done.output_tokens == sum(u.completion_tokens for u in usage) > 0
    assert sorted(r.request_id for r in recorder.records) == [f"batch_a-{n}" for n in range(1, 5)]
    assert {r.batch_id for r in recorder.records} == {"batch_a"}
    # The open-call file a crash would bill is tagged too.
    assert {p().batch_id for p in recorder.opened.values()} == {"batch_a"}
    good = output(engine, done.output_file_id)
    assert [o["custom_id"] for o in good] == ["c-1", "c-2", "c-4"]
    assert all(o["response"]["status_code"] == 200 and o["error"] is None for o in good)
    assert good[0]["response"]["request_id"] == "batch_a-1"
    assert good[0]["id"].startswith("batch_req_")
    bad = output(engine, done.error_file_id)
    assert [(o["custom_id"], o["response"]["status_code"]) for o in bad] == [("c-3", 503)]
    assert bad[0]["response"]["body"]["error"]["message"] == "The upstream is down."


@synchronous
async def test_an_embeddings_batch_runs_through_embed(engine: Engine) -> None:
    made, recorder = runner(engine, "r1")
    new_batch(engine, "batch_e", ["demo-embedding"] * 2, "/v1/embeddings")
    done = await run_until(made, engine, "batch_e", "completed")
    lines = output(engine, done.output_file_id)
    assert [o["response"]["body"]["object"] for o in lines] == ["list", "list"]
    assert {r.batch_id for r in recorder.records} == {"batch_e"}


@synchronous
async def test_two_runners_never_claim_the_same_line(engine: Engine) -> None:
    new_batch(engine, "batch_two", ["demo"] * 10)
    finalize.start_validated(engine)
    first = leases.claim_lines(engine, "r1", 6, 30)
    second = leases.claim_lines(engine, "r2", 6, 30)
    assert len(first) == 6 and len(second) == 4
    assert not {c.key for c in first} & {c.key for c in second}
    assert leases.claim_lines(engine, "r3", 6, 30) == []
    # A line is finished by the runner holding it, once.
    assert leases.finish_line(engine, "r1", first[0], 200, b"{}")
    assert not leases.finish_line(engine, "r1", first[0], 200, b"{}")
    assert not leases.finish_line(engine, "r2", first[1], 200, b"{}")


@synchronous
async def test_a_dead_runners_line_runs_again_when_its_lease_runs_out(engine: Engine) -> None:
    new_batch(engine, "batch_dead", ["demo"])
    finalize.start_validated(engine)
    [held] = leases.claim_lines(engine, "dead-runner", 1, 30)
    made, recorder = runner(engine, "r2")
    await made.tick()
    assert made.running == 0  # leased: not free
    past = datetime.now(UTC) - timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(update(BATCH_LINES).values(lease_until=past))
    done = await run_until(made, engine, "batch_dead", "completed")
    assert done.completed == 1
    assert [r.request_id for r in recorder.records] == [held.request_id]
    # The dead runner's late answer changes nothing.
    assert not leases.finish_line(engine, "dead-runner", held, 500, b"{}")


@synchronous
async def test_a_cancel_releases_the_holds_of_lines_that_never_ran(engine: Engine) -> None:
    budget = Budget()
    made, recorder = runner(engine, "r1", budget)
    new_batch(engine, "batch_c", ["demo"] * 8)
    finalize.start_validated(engine)
    [running] = leases.claim_lines(engine, "r1", 1, 30)  # one line is in flight
    assert cancel_batch(engine, PROJECT, "batch_c").status == "cancelling"
    assert cancel_batch(engine, "proj_other", "batch_c") is None
    await made.tick()
    assert sorted(budget.released) == sorted(f"batch_c-{n}" for n in range(2, 9))
    assert find_batch(engine, PROJECT, "batch_c").status == "cancelling"  # waits for it
    leases.finish_line(engine, "r1", running, 200, b'{"custom_id":"c-1"}')
    done = await run_until(made, engine, "batch_c", "cancelled")
    assert done.cancelled_at and (done.completed, done.failed) == (1, 0)
    assert output(engine, done.output_file_id) == [{"custom_id": "c-1"}]
    assert done.error_file_id is None
    assert recorder.records == []  # nothing else ran
    assert len(budget.released) == 7  # each released once


@synchronous
async def test_a_batch_past_its_window_expires_with_its_unrun_lines(engine: Engine) -> None:
    budget = Budget()
    made, _ = runner(engine, "r1", budget)
    new_batch(engine, "batch_x", ["demo"] * 3)
    with engine.begin() as conn:
        conn.execute(update(BATCHES).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    done = await run_until(made, engine, "batch_x", "expired")
    assert done.expired_at and done.output_file_id is None
    errors = output(engine, done.error_file_id)
    assert [e["error"]["code"] for e in errors] == ["batch_expired"] * 3
    assert [e["custom_id"] for e in errors] == ["c-1", "c-2", "c-3"]
    assert sorted(budget.released) == ["batch_x-1", "batch_x-2", "batch_x-3"]
    with engine.connect() as conn:
        states = conn.execute(select(BATCH_LINES.c.state)).scalars().all()
    assert set(states) == {"expired"}


@synchronous
async def test_two_runners_share_a_batch_and_each_line_runs_once(engine: Engine) -> None:
    first, first_records = runner(engine, "r1")
    second, second_records = runner(engine, "r2")
    new_batch(engine, "batch_shared", ["demo"] * 20)
    for _ in range(500):
        await asyncio.gather(first.tick(), second.tick())
        await asyncio.sleep(0.01)
        if find_batch(engine, PROJECT, "batch_shared").status == "completed":
            break
    ran = [r.request_id for r in first_records.records + second_records.records]
    assert sorted(ran) == sorted(f"batch_shared-{n}" for n in range(1, 21))
    assert first_records.records and second_records.records  # both took a share
    done = find_batch(engine, PROJECT, "batch_shared")
    assert (done.status, done.completed) == ("completed", 20)
    assert len(output(engine, done.output_file_id)) == 20
