"""Anthropic and Gemini behind the gateway, called with the OpenAI SDK: the answer is
right, and the ledger's cost is the provider-reported usage times the price, exactly.
Prompt caching through the Anthropic-format front door, with the anthropic SDK: cache
writes, then cache reads, each billed at its own price."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from sqlalchemy import select

from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LEDGER
from tollgate.money import from_nano
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.gemini_upstream import MockGemini

KEY = "provider-key-for-tests"
RATE = Decimal("7.2")  # the projects are in CNY; these prices are in USD
# (model, provider, USD per million input, output, cached input, cache write) from the
# default catalogue; a model without a cache-write price bills writes as input.
MODELS = [
    ("claude-sonnet-4-5", "anthropic", Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75")),
    ("gemini-2.5-flash", "gemini", Decimal("0.3"), Decimal("2.5"), Decimal("0.03"), Decimal("0.3")),
]
MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Which provider is this?"},
]


@pytest.fixture(scope="module")
def claude() -> Iterator[MockAnthropic]:
    mock = MockAnthropic(api_key=KEY).start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, claude: MockAnthropic) -> Iterator[Suite]:
    gemini = MockGemini(api_key=KEY).start()
    config = (
        "providers:\n"
        f"  - {{name: anthropic, kind: anthropic, base_url: '{claude.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [claude-sonnet-4-5]}\n"
        f"  - {{name: gemini, kind: gemini, base_url: '{gemini.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [gemini-2.5-flash]}\n"
    )
    home: Path = tmp_path_factory.mktemp("providers")
    running = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", config=config, extra_env={"PROVIDER_KEY": KEY}
    )
    yield running
    stop_suite(running)
    gemini.stop()


def rows_for(suite: Suite, project: str, count: int) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + 15
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project)))
        if len(rows) >= count or time.monotonic() > deadline:
            return sorted(rows, key=lambda r: (r.started_at, r.id))  # in call order
        time.sleep(0.05)


def expected_cost(row, prices: tuple[Decimal, Decimal, Decimal, Decimal]) -> Decimal:  # type: ignore[no-untyped-def]
    input_price, output_price, cached_price, write_price = prices
    usd = (
        (row.prompt_tokens - row.cached_tokens - row.cache_write_tokens) * input_price
        + row.cached_tokens * cached_price
        + row.cache_write_tokens * write_price
        + row.completion_tokens * output_price
    ) / 10**6
    return (usd * RATE).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)


@pytest.mark.parametrize(("model", "provider", "inp", "out", "cached", "write"), MODELS)
def test_chat_streaming_and_tools_bill_the_provider_usage_exactly(
    suite: Suite,
    model: str,
    provider: str,
    inp: Decimal,
    out: Decimal,
    cached: Decimal,
    write: Decimal,
) -> None:
    project, secret = suite.project_with_key(f"via-{provider}")
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    reply = sdk.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert "Which provider is this?" in (reply.choices[0].message.content or "")
    chunks = list(
        sdk.chat.completions.create(
            model=model,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == reply.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens

    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    called = sdk.chat.completions.create(
        model=model,
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=[tool],  # type: ignore[list-item]
        tool_choice="required",
    )
    assert called.choices[0].message.tool_calls[0].function.name == "lookup"  # type: ignore[index]

    rows = rows_for(suite, project, 3)
    assert [r.provider for r in rows] == [provider] * 3
    assert all(r.usage_source == "provider" and r.status == "ok" for r in rows)
    assert (rows[0].prompt_tokens, rows[0].completion_tokens) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )
    for row in rows:
        assert from_nano(row.cost_nano) == expected_cost(row, (inp, out, cached, write))
        assert row.cost_nano > 0


def test_anthropic_prompt_caching_bills_cache_writes_then_cache_reads(
    suite: Suite, claude: MockAnthropic
) -> None:
    """The anthropic SDK marks a long system prompt with cache_control twice, through
    /v1/messages to the Anthropic upstream: the first call writes the cache, the
    second (streamed) reads it, and each ledger row is priced part by part, exactly."""
    project, secret = suite.project_with_key("prompt-cache")
    root = suite.base_url.removesuffix("/v1")
    sdk = anthropic.Anthropic(base_url=root, api_key=secret, max_retries=0)
    system: Any = [
        {
            "type": "text",
            "text": "You answer questions about tollgate's billing rules. " * 40,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    first = sdk.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=200,
        system=system,
        messages=[{"role": "user", "content": "How are cache writes priced?"}],
    )
    written = first.usage.cache_creation_input_tokens
    assert written and written > 200 and not first.usage.cache_read_input_tokens
    with sdk.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=200,
        system=system,
        messages=[{"role": "user", "content": "And cache reads?"}],
    ) as stream:
        second = stream.get_final_message()
    assert second.usage.cache_read_input_tokens == written
    assert not second.usage.cache_creation_input_tokens

    # The marks reached Anthropic on the system block they were set on.
    sent = [r for r in claude.state.requests if isinstance(r.get("system"), list)]
    assert [r["system"] for r in sent] == [system, system]
    rows = rows_for(suite, project, 2)
    assert [(r.cache_write_tokens, r.cached_tokens) for r in rows] == [(written, 0), (0, written)]
    assert all(r.usage_source == "provider" and r.status == "ok" for r in rows)
    assert rows[0].prompt_tokens == first.usage.input_tokens + written
    prices = MODELS[0][2:]
    for row in rows:
        assert from_nano(row.cost_nano) == expected_cost(row, prices)
    # A write costs more than input, a read less: the rows are priced part by part.
    assert rows[0].cost_nano > 0 and rows[1].cost_nano > 0
