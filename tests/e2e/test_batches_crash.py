"""A router killed mid-batch (SIGKILL, nothing flushed): once it is back, the lines its
dead runner held run again when their leases run out, the batch completes with one
output line per request, and the ledger holds exactly one row per line, each tagged
with the batch, however the killed attempts and the re-runs raced to metering."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from sqlalchemy import select

from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.batch_models import BATCH_LINES
from tollgate.db.models import LEDGER
from tollgate_mocks.openai_upstream import MockUpstream

LINES = 8
ENV = {
    "TOLLGATE_BATCH_POLL_SECONDS": "0.1",
    "TOLLGATE_BATCH_CONCURRENCY": "2",
    "TOLLGATE_BATCH_LEASE_SECONDS": "3",
    "TOLLGATE_OPEN_CALL_STALE_SECONDS": "3",
    "PROVIDER_KEY": "provider-key-for-batch-crash",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def suite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Suite]:
    slow = MockUpstream(api_key=ENV["PROVIDER_KEY"], latency_ms=700).start()
    config = (
        "providers:\n"
        f"  - {{name: slow, kind: openai, base_url: '{slow.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [gpt-4o-mini]}\n"
    )
    try:
        if request.param == "sqlite":
            running = start_suite(tmp_path, f"sqlite:///{tmp_path / 'db'}", config=config,
                                  extra_env=ENV)  # fmt: skip
            yield running
            stop_suite(running)
        else:
            with postgres_schema() as url:
                running = start_suite(tmp_path, url, config=config, extra_env=ENV)
                yield running
                stop_suite(running)
    finally:
        slow.stop()


def test_a_killed_routers_lines_run_again_and_each_is_billed_once(suite: Suite) -> None:
    project_id, secret = suite.project_with_key(f"crash-{uuid.uuid4().hex[:8]}")
    client = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=2)
    lines = [
        {
            "custom_id": f"c-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"n {i}"}]},
        }
        for i in range(LINES)
    ]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    file_id = client.files.create(file=("in.jsonl", content), purpose="batch").id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    deadline = time.monotonic() + 30
    while client.batches.retrieve(batch.id).request_counts.completed < 2:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # the next two lines are in flight at the upstream
    with suite.engine.connect() as conn:
        running = conn.execute(
            select(BATCH_LINES.c.line).where(BATCH_LINES.c.state == "running")
        ).all()
    suite.stop("router", signal.SIGKILL)
    assert running, "no line was in flight when the router was killed"
    suite.start("router")
    suite.wait_healthy(("router",))

    deadline = time.monotonic() + 90
    while (done := client.batches.retrieve(batch.id)).status != "completed":
        assert time.monotonic() < deadline, f"stuck in {done.status}"
        time.sleep(0.2)
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (LINES, 0)
    assert done.output_file_id is not None
    outputs = client.files.content(done.output_file_id).text.splitlines()
    assert sorted(json.loads(o)["custom_id"] for o in outputs) == sorted(
        f"c-{i}" for i in range(LINES)
    )

    expected = {f"{batch.id}-{i + 1}" for i in range(LINES)}
    deadline = time.monotonic() + 30
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project_id)))
        if {row.request_id for row in rows} == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(row.request_id for row in rows) == sorted(expected)  # one row a line
    assert {row.batch_id for row in rows} == {batch.id}
