"""x-tollgate-cost through the whole suite: each non-streaming call's answer carries
its cost, exactly the ledger row's (a USD project on the CNY-priced demo model, so the
exchange rate's rounding is in play, at a 1.15 price multiplier, and a cache hit at
0.1 of its price), through the OpenAI SDK's chat and embeddings and the Anthropic
SDK's messages; a stream carries none, and the SDK parses it as ever."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import pytest
from sqlalchemy import select

from tests.e2e.openai_sdk_helpers import MESSAGES, client, unique
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LedgerEntry
from tollgate.money import from_nano

CONFIG = 'cache: {enabled: true, ttl_seconds: 600, hit_price_fraction: "0.1"}\n'


@pytest.fixture(scope="module")
def costed_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("suite-cost")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", config=CONFIG)
    yield running
    stop_suite(running)


@pytest.fixture(scope="module")
def project(costed_suite: Suite) -> tuple[str, str]:
    name = unique("cost")
    project_id, secret = costed_suite.project_with_key(name, currency="USD")
    costed_suite.cli("project", "multiplier", name, "1.15")
    return project_id, secret


def _row(suite: Suite, request_id: str) -> LedgerEntry:
    table = LedgerEntry.__table__
    for _ in range(300):
        with suite.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.request_id == request_id)).first()
        if row is not None:
            return row  # type: ignore[return-value]
        time.sleep(0.05)
    raise AssertionError(f"no ledger row for {request_id}")


def _amount(header: str) -> tuple[Decimal, str]:
    amount, currency = header.split(" ")
    return Decimal(amount), currency


def _check(suite: Suite, headers: httpx.Headers) -> LedgerEntry:
    """The headers name the ledger row's cost exactly, and the parts add up to it."""
    row = _row(suite, headers["x-request-id"])
    total, currency = _amount(headers["x-tollgate-cost"])
    assert currency == row.currency == "USD"
    assert total == from_nano(row.cost_nano)
    part_in, _ = _amount(headers["x-tollgate-cost-input"])
    part_out, _ = _amount(headers["x-tollgate-cost-output"])
    assert part_in + part_out == total
    return row


def test_a_chat_answer_carries_the_ledger_rows_cost(
    costed_suite: Suite, project: tuple[str, str]
) -> None:
    _, secret = project
    raw = client(costed_suite, secret).chat.completions.with_raw_response.create(
        model="demo", messages=[{"role": "user", "content": "price me " + unique("x")}]
    )
    reply = raw.parse()
    row = _check(costed_suite, raw.headers)
    assert row.cost_nano > 0 and reply.usage is not None
    # CNY 21 / 105 per million, to USD at 7.2, times 1.15, rounded once to a nano-unit.
    exact = (
        (Decimal(reply.usage.prompt_tokens) * 21 + Decimal(reply.usage.completion_tokens) * 105)
        / 10**6
        / Decimal("7.2")
        * Decimal("1.15")
    )
    assert abs(_amount(raw.headers["x-tollgate-cost"])[0] - exact) <= Decimal("0.0000000005")
    assert raw.headers["x-tollgate-cost-output"] != "0.00 USD"


def test_a_cache_hit_carries_its_fraction_of_the_price(
    costed_suite: Suite, project: tuple[str, str]
) -> None:
    _, secret = project
    sdk = client(costed_suite, secret)
    messages = [{"role": "user", "content": "cache me " + unique("x")}]
    first = sdk.chat.completions.with_raw_response.create(
        model="demo",
        messages=messages,  # type: ignore[arg-type]
        temperature=0,
    )
    paid = _check(costed_suite, first.headers)
    for _ in range(50):
        raw = sdk.chat.completions.with_raw_response.create(
            model="demo",
            messages=messages,  # type: ignore[arg-type]
            temperature=0,
        )
        if raw.headers.get("x-tollgate-cache") == "hit":
            break
        _check(costed_suite, raw.headers)
    else:
        raise AssertionError("the cache never answered")
    hit = _check(costed_suite, raw.headers)
    assert hit.cache_hit and 0 < hit.cost_nano < paid.cost_nano


def test_a_stream_carries_no_cost_header(costed_suite: Suite, project: tuple[str, str]) -> None:
    _, secret = project
    with client(costed_suite, secret).chat.completions.with_streaming_response.create(
        model="demo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as raw:
        assert "x-tollgate-cost" not in raw.headers
        chunks = list(raw.parse())
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_an_embeddings_answer_carries_its_cost(
    costed_suite: Suite, project: tuple[str, str]
) -> None:
    _, secret = project
    raw = client(costed_suite, secret).embeddings.with_raw_response.create(
        model="demo-embedding", input=["what does this cost", unique("x")]
    )
    raw.parse()
    row = _check(costed_suite, raw.headers)
    assert raw.headers["x-tollgate-cost-output"] == "0.00 USD"
    assert row.cost_nano > 0


def test_a_messages_answer_carries_its_cost(costed_suite: Suite, project: tuple[str, str]) -> None:
    _, secret = project
    sdk = anthropic.Anthropic(
        base_url=costed_suite.base_url.removesuffix("/v1"), api_key=secret, max_retries=0
    )
    raw = sdk.messages.with_raw_response.create(
        model="demo",
        max_tokens=64,
        messages=[{"role": "user", "content": "price this " + unique("x")}],
    )
    assert raw.parse().usage.output_tokens > 0
    _check(costed_suite, raw.headers)


def test_a_list_of_completions_prompts_carries_the_sum_of_its_rows(
    costed_suite: Suite, project: tuple[str, str]
) -> None:
    _, secret = project
    raw = client(costed_suite, secret).completions.with_raw_response.create(
        model="demo", prompt=["first " + unique("x"), "second " + unique("x")], max_tokens=9
    )
    assert len(raw.parse().choices) == 2
    request_id = raw.headers["x-request-id"]
    rows = [_row(costed_suite, request_id), _row(costed_suite, f"{request_id}-1")]
    total, currency = _amount(raw.headers["x-tollgate-cost"])
    assert currency == "USD" and total == from_nano(sum(r.cost_nano for r in rows))
    assert all(r.cost_nano > 0 for r in rows)


def test_a_responses_answer_carries_its_cost(costed_suite: Suite, project: tuple[str, str]) -> None:
    _, secret = project
    raw = client(costed_suite, secret).responses.with_raw_response.create(
        model="demo", input="price this response " + unique("x"), store=False
    )
    assert raw.parse().usage is not None
    row = _check(costed_suite, raw.headers)
    assert row.cost_nano > 0
