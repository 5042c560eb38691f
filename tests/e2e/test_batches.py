"""The Batch API through the whole suite, driven by the official OpenAI SDK: upload a
JSONL file, create a batch, poll it to completed, read the output and error files;
each line is one call with its own request id and one ledger row tagged with the
batch; a line failing upstream lands in the error file; a cancelled batch bills only
what ran and releases the rest; another project sees none of it; a batch past a hard
budget is refused whole and leaves no holds."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LEDGER, RESERVATIONS
from tollgate_mocks.openai_upstream import MockUpstream

SLOW_MS = 400  # the slow upstream's latency: a batch of it can be cancelled mid-way
ENV = {
    "TOLLGATE_BATCH_POLL_SECONDS": "0.1",
    "TOLLGATE_BATCH_CONCURRENCY": "2",
    "TOLLGATE_FILE_MAX_BYTES": "1000000",
    "TOLLGATE_BATCH_MAX_LINES": "100",
    "PROVIDER_KEY": "provider-key-for-batches",
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def suite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    slow = MockUpstream(api_key=ENV["PROVIDER_KEY"], latency_ms=SLOW_MS).start()
    config = (
        "providers:\n"
        "  - {name: demo, kind: demo, models: [demo, demo-embedding]}\n"
        f"  - {{name: slow, kind: openai, base_url: '{slow.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [gpt-4o-mini]}\n"
        # Nothing listens there: every call to it fails upstream.
        "  - {name: down, kind: anthropic, base_url: 'http://127.0.0.1:9',"
        " models: [claude-haiku-4-5]}\n"
    )
    home: Path = tmp_path_factory.mktemp(f"batches-{request.param}")
    try:
        if request.param == "sqlite":
            running = start_suite(home, f"sqlite:///{home / 'db'}", config=config, extra_env=ENV)
            yield running
            stop_suite(running)
        else:
            with postgres_schema() as url:
                running = start_suite(home, url, config=config, extra_env=ENV)
                yield running
                stop_suite(running)
    finally:
        slow.stop()


def project(suite: Suite, budget: str | None = None) -> tuple[str, openai.OpenAI]:
    project_id, secret = suite.project_with_key(f"batch-{uuid.uuid4().hex[:8]}", budget)
    return project_id, openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)


def chat_line(custom_id: str, model: str = "demo", text: str = "Say hi") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def upload(client: openai.OpenAI, lines: list[dict[str, Any]]) -> str:
    return client.files.create(file=("input.jsonl", jsonl(lines)), purpose="batch").id


def wait_for(client: openai.OpenAI, batch_id: str, *statuses: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch stuck in {batch.status}"
        time.sleep(0.1)


def file_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def ledger_rows(suite: Suite, project_id: str, count: int, timeout: float = 20) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project_id)))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def reservations(suite: Suite, project_id: str) -> list[Any]:
    with suite.engine.connect() as conn:
        return list(
            conn.execute(select(RESERVATIONS).where(RESERVATIONS.c.project_id == project_id))
        )


def test_a_chat_batch_runs_every_line_once_and_bills_each_as_a_batch_line(suite: Suite) -> None:
    project_id, client = project(suite)
    lines = [chat_line(f"ok-{i}", text=f"Count to {i}") for i in range(3)]
    lines.append(chat_line("down-1", model="claude-haiku-4-5"))
    batch = client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.status in ("validating", "in_progress")
    assert batch.metadata == {"job": "nightly"}

    done = wait_for(client, batch.id, "completed")
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (4, 3)
    assert done.request_counts.failed == 1
    assert done.in_progress_at and done.finalizing_at and done.completed_at

    outputs = file_lines(client, done.output_file_id)
    assert sorted(o["custom_id"] for o in outputs) == ["ok-0", "ok-1", "ok-2"]
    for output in outputs:
        assert output["error"] is None
        assert output["response"]["status_code"] == 200
        body = output["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"]
    errors = file_lines(client, done.error_file_id)
    assert [e["custom_id"] for e in errors] == ["down-1"]
    assert errors[0]["response"]["status_code"] >= 500
    assert "error" in errors[0]["response"]["body"]

    # One ledger row per line, under the line's request id, tagged with the batch;
    # the output names each line's request id.
    rows = ledger_rows(suite, project_id, 4)
    assert len(rows) == 4
    assert {row.batch_id for row in rows} == {batch.id}
    request_ids = {o["response"]["request_id"] for o in outputs + errors}
    assert {row.request_id for row in rows} == request_ids
    assert all(rid.startswith(batch.id + "-") for rid in request_ids)
    by_id = {row.request_id: row for row in rows}
    for output in outputs:
        usage = output["response"]["body"]["usage"]
        row = by_id[output["response"]["request_id"]]
        assert (row.prompt_tokens, row.completion_tokens) == (
            usage["prompt_tokens"],
            usage["completion_tokens"],
        )
        assert row.cost_nano > 0
    failed = by_id[errors[0]["response"]["request_id"]]
    assert failed.cost_nano == 0
    # The batch's usage is its lines' tokens, as the ledger has them.
    assert done.usage is not None
    assert done.usage.input_tokens == sum(row.prompt_tokens for row in rows)
    assert done.usage.output_tokens == sum(row.completion_tokens for row in rows)
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    # Every hold was settled: none is left open.
    assert [r for r in reservations(suite, project_id) if r.state == "open"] == []


def test_an_embeddings_batch_answers_each_input(suite: Suite) -> None:
    project_id, client = project(suite)
    lines = [
        {
            "custom_id": f"e-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "demo-embedding", "input": f"text number {i}"},
        }
        for i in range(3)
    ]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/embeddings", completion_window="24h"
    )
    done = wait_for(client, batch.id, "completed")
    outputs = file_lines(client, done.output_file_id)
    assert sorted(o["custom_id"] for o in outputs) == ["e-0", "e-1", "e-2"]
    direct = client.embeddings.create(model="demo-embedding", input="text number 1")
    one = next(o for o in outputs if o["custom_id"] == "e-1")["response"]["body"]
    assert one["data"][0]["embedding"] == direct.data[0].embedding
    rows = ledger_rows(suite, project_id, 4)
    assert sorted(row.batch_id for row in rows) == ["", batch.id, batch.id, batch.id]


def test_cancelling_a_batch_bills_only_the_lines_that_ran(suite: Suite) -> None:
    # A hard budget: every line's hold is a reservation row, to be settled or released.
    project_id, client = project(suite, budget="1000")
    lines = [chat_line(f"slow-{i}", model="gpt-4o-mini") for i in range(12)]
    batch = client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    deadline = time.monotonic() + 30
    while client.batches.retrieve(batch.id).request_counts.completed < 2:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")

    done = wait_for(client, batch.id, "cancelled")
    assert done.cancelled_at and done.cancelling_at
    counts = done.request_counts
    assert counts is not None
    ran = counts.completed + counts.failed
    assert 2 <= ran < 12
    outputs = file_lines(client, done.output_file_id)
    assert len(outputs) == counts.completed

    rows = ledger_rows(suite, project_id, ran)
    time.sleep(0.5)  # nothing more lands
    rows = ledger_rows(suite, project_id, ran)
    assert len(rows) == ran
    assert {row.batch_id for row in rows} == {batch.id}
    held = reservations(suite, project_id)
    assert len(held) == 12
    states = sorted(r.state for r in held)
    assert states.count("settled") == ran
    assert states.count("released") == 12 - ran
    # Each line was held for the batch's window (24 h) and an hour more, not the default TTL.
    for hold in held:
        assert timedelta(hours=24) < hold.expires_at - hold.created_at <= timedelta(hours=25)


def test_another_project_can_neither_see_nor_touch_a_batch_or_its_files(suite: Suite) -> None:
    _, owner = project(suite)
    _, other = project(suite)
    file_id = upload(owner, [chat_line("mine")])
    batch = owner.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_for(owner, batch.id, "completed")
    assert done.output_file_id is not None
    for call in (
        lambda: other.files.retrieve(file_id),
        lambda: other.files.content(file_id),
        lambda: other.files.content(done.output_file_id or ""),
        lambda: other.files.delete(file_id),
        lambda: other.batches.retrieve(batch.id),
        lambda: other.batches.cancel(batch.id),
        lambda: other.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        ),
    ):
        with pytest.raises(openai.NotFoundError) as refused:
            call()
        assert refused.value.status_code == 404
    assert [f.id for f in other.files.list()] == []
    assert [b.id for b in other.batches.list()] == []
    # Unknown ids answer the same way.
    with pytest.raises(openai.NotFoundError):
        owner.batches.retrieve("batch_" + "0" * 24)
    assert file_id in [f.id for f in owner.files.list()]
    assert batch.id in [b.id for b in owner.batches.list()]
    assert owner.files.delete(file_id).deleted
    with pytest.raises(openai.NotFoundError):
        owner.files.retrieve(file_id)


def test_a_batch_over_a_hard_budget_is_refused_whole_and_leaves_no_holds(suite: Suite) -> None:
    project_id, client = project(suite, budget="0.5")  # CNY a month
    lines = [chat_line(f"big-{i}") for i in range(20)]
    for line in lines:
        line["body"]["max_tokens"] = 1000  # CNY 0.105 of output each at the demo's price
    with pytest.raises(openai.RateLimitError) as refused:
        client.batches.create(
            input_file_id=upload(client, lines),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
    assert refused.value.code == "budget_exceeded"
    assert [r for r in reservations(suite, project_id) if r.state == "open"] == []
    assert [b.id for b in client.batches.list()] == []
    # A batch that fits is accepted.
    small = client.batches.create(
        input_file_id=upload(client, lines[:2]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    assert wait_for(client, small.id, "completed").request_counts.completed == 2  # type: ignore[union-attr]


def test_bad_lines_fail_the_batch_with_their_line_numbers(suite: Suite) -> None:
    _, client = project(suite)
    good = chat_line("a")
    lines: list[Any] = [
        good,
        {**chat_line("a")},  # a duplicate custom_id
        {**chat_line("b"), "url": "/v1/embeddings"},
        {**chat_line("c"), "method": "GET"},
        {"custom_id": "d", "method": "POST", "url": "/v1/chat/completions", "body": {}},
        chat_line("e", model="no-such-model"),
    ]
    data = jsonl(lines) + b"{not json\n"
    file_id = client.files.create(file=("bad.jsonl", data), purpose="batch").id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed"
    assert batch.failed_at
    assert batch.errors is not None and batch.errors.data is not None
    found = {(e.line, e.param) for e in batch.errors.data}
    assert found == {
        (2, "custom_id"),
        (3, "url"),
        (4, "method"),
        (5, "body.model"),
        (6, "body.model"),
        (7, None),
    }
    assert client.batches.retrieve(batch.id).status == "failed"


def test_a_responses_batch_answers_response_objects(suite: Suite) -> None:
    project_id, client = project(suite)
    lines = [
        {
            "custom_id": f"r-{i}",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "demo", "input": f"Tell me {i}", "instructions": "Be brief."},
        }
        for i in range(2)
    ]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/responses", completion_window="24h"
    )
    done = wait_for(client, batch.id, "completed")
    outputs = file_lines(client, done.output_file_id)
    assert sorted(o["custom_id"] for o in outputs) == ["r-0", "r-1"]
    rows = {row.request_id: row for row in ledger_rows(suite, project_id, 2)}
    for output in outputs:
        body = output["response"]["body"]
        assert body["object"] == "response" and body["status"] == "completed"
        assert body["instructions"] == "Be brief."
        assert body["output"][0]["content"][0]["text"]
        row = rows[output["response"]["request_id"]]
        assert row.batch_id == batch.id
        assert body["usage"]["input_tokens"] == row.prompt_tokens
        assert body["usage"]["output_tokens"] == row.completion_tokens


def test_hostile_uploads_are_clear_4xx(suite: Suite) -> None:
    _, client = project(suite)
    too_big = b"x" * 1_000_001
    with pytest.raises(openai.APIStatusError) as refused:
        client.files.create(file=("big.jsonl", too_big), purpose="batch")
    assert refused.value.status_code == 413
    too_many = jsonl([chat_line(f"n-{i}") for i in range(101)])
    for content, param in [
        (too_many, "file"),
        (jsonl([chat_line("z")]) + b"\x00", "file"),
        (b"\xff\xfe\xfd", "file"),
    ]:
        with pytest.raises(openai.BadRequestError) as bad:
            client.files.create(file=("bad.jsonl", content), purpose="batch")
        assert bad.value.body["param"] == param  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        client.files.create(file=("a.jsonl", jsonl([chat_line("a")])), purpose="fine-tune")
    assert bad.value.body["param"] == "purpose"  # type: ignore[index]
    # Deep JSON, a lone surrogate and a huge custom_id fail the batch, line by line.
    deep = b'{"custom_id": "deep", "body": ' + b"[" * 150 + b"]" * 150 + b"}"
    surrogate = b'{"custom_id": "\\ud800", "method": "POST"}'
    huge = json.dumps(chat_line("h" * 100_000)).encode()
    file_id = client.files.create(
        file=("hostile.jsonl", b"\n".join([deep, surrogate, huge])), purpose="batch"
    ).id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data is not None
    assert [e.line for e in batch.errors.data] == [1, 2, 3]
    for bad_create, param in [
        ({"endpoint": "/v1/moderations"}, "endpoint"),
        ({"completion_window": "1h"}, "completion_window"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"input_file_id": "file-\u0000"}, "input_file_id"),
    ]:
        fields: dict[str, Any] = {
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            **bad_create,
        }
        with pytest.raises(openai.BadRequestError) as bad:
            client.batches.create(**fields)
        assert bad.value.body["param"] == param  # type: ignore[index]
