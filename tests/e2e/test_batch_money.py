"""The Batch API's money through the whole suite, driven by the official OpenAI SDK: a
batch's lines on an OpenAI model are held at the batch price for the batch's window
(the reservations remember the batch), each billed exactly at half the price
(gpt-4o-mini has no batch price of its own: the default rule), rounded once, while
the same request made directly costs the whole price; the batch's bill is the sum of
its rows to the last digit, and the savings report shows the discount under `batch`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import func, select

from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db import as_utc
from tollgate.db.models import LEDGER, RESERVATIONS
from tollgate.grpcutil import InternalCredential, sync_channel
from tollgate.v1 import metering_pb2, metering_pb2_grpc
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "provider-key-for-batch-money"
ENV = {"TOLLGATE_BATCH_POLL_SECONDS": "0.1", "PROVIDER_KEY": KEY}
# gpt-4o-mini's shipped price, USD per million tokens.
INPUT, OUTPUT, CACHED = Fraction("0.15"), Fraction("0.6"), Fraction("0.075")
WINDOW = timedelta(hours=25)  # 24h and the gateway's hour of margin


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def suite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    upstream = MockUpstream(api_key=KEY).start()
    config = (
        "providers:\n"
        f"  - {{name: up, kind: openai, base_url: '{upstream.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [gpt-4o-mini]}\n"
    )
    home: Path = tmp_path_factory.mktemp(f"batch-money-{request.param}")
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
        upstream.stop()


def _whole_nano(row: Any) -> Fraction:
    """The row's exact cost at the whole price, in USD nano-units."""
    cached = row.cached_tokens
    per_million = (
        (row.prompt_tokens - cached) * INPUT + cached * CACHED + row.completion_tokens * OUTPUT
    )
    return per_million / 10**6 * 10**9


def _half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))


def _rows(suite: Suite, project_id: str, count: int) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project_id)))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_batch_lines_are_held_and_billed_at_the_batch_price(suite: Suite) -> None:
    name = f"batch-money-{uuid.uuid4().hex[:8]}"
    project_id, secret = suite.project_with_key(name, "100", currency="USD")
    client = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    prompts = [f"Count slowly from one to {n} and explain each number" for n in (3, 7, 11)]
    lines = [
        {
            "custom_id": f"line-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        }
        for n, text in enumerate(prompts)
    ]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    file_id = client.files.create(file=("in.jsonl", content), purpose="batch").id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    with suite.engine.connect() as conn:
        held = list(
            conn.execute(select(RESERVATIONS).where(RESERVATIONS.c.project_id == project_id))
        )
    assert len(held) == 3 and {r.batch_id for r in held} == {batch.id}
    for reservation in held:
        window = as_utc(reservation.expires_at) - as_utc(reservation.created_at)
        assert window == WINDOW

    deadline = time.monotonic() + 60
    while client.batches.retrieve(batch.id).status != "completed":
        assert time.monotonic() < deadline, "the batch did not complete"
        time.sleep(0.1)
    direct = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompts[0]}]
    )
    rows = _rows(suite, project_id, 4)
    lines_rows = [r for r in rows if r.batch_id == batch.id]
    (direct_row,) = [r for r in rows if r.batch_id == ""]
    assert len(lines_rows) == 3
    assert direct_row.cost_nano == _half_up(_whole_nano(direct_row)) > 0
    for row in lines_rows:
        assert row.cost_nano == _half_up(_whole_nano(row) / 2) > 0
        assert row.saved_nano == _half_up(_whole_nano(row)) - row.cost_nano
    with suite.engine.connect() as conn:
        billed = conn.execute(
            select(func.sum(LEDGER.c.cost_nano)).where(LEDGER.c.batch_id == batch.id)
        ).scalar_one()
        states = set(
            conn.execute(
                select(RESERVATIONS.c.state).where(RESERVATIONS.c.batch_id == batch.id)
            ).scalars()
        )
    assert billed == sum(_half_up(_whole_nano(row) / 2) for row in lines_rows)
    assert states == {"settled"}
    assert direct.id  # the direct call answered

    channel = sync_channel(suite.env["TOLLGATE_METERING_ADDR"], _credential(suite))
    try:
        savings = metering_pb2_grpc.MeteringStub(channel).GetSavings(
            metering_pb2.SavingsRequest(project_id=project_id)
        )
    finally:
        channel.close()
    (line,) = [line for line in savings.lines if line.lever == "batch"]
    assert line.requests == 3
    saved = sum(row.saved_nano for row in lines_rows)
    assert round(Fraction(line.saved.amount) * 10**9) == saved


def _credential(suite: Suite) -> InternalCredential:
    return InternalCredential((suite.home / "internal_token").read_text().strip())
