"""Anthropic and Gemini upstreams that fail, behind the whole suite, called with the
OpenAI SDK: a client that leaves mid-stream stops the upstream at once and pays for
what was generated; a broken upstream stream is billed as an estimate; an upstream
error before any output costs nothing. Each call leaves exactly one ledger row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from services.router.providers.demo import model as demo
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LEDGER
from tollgate.tokens import count_text
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.gemini_upstream import MockGemini
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "provider-key-for-fault-tests"
INPUT_PRICE, OUTPUT_PRICE = 21, 105  # CNY per million tokens, as the projects are billed
NANO_PER_MILLION_TOKENS = 10**9 // 10**6
MESSAGES: list[Any] = [{"role": "user", "content": "budget " * 30}]
FULL_REPLY = demo.REPLY_PREFIX + MESSAGES[0]["content"]
TEXT_CHUNKS = 5  # text chunks a broken stream delivers before it breaks
# The failing upstreams of each kind, by the model name they serve.
FAULTS: dict[str, dict[str, Any]] = {
    "slow": {"token_delay_ms": 100},
    "cut": {},  # break_after_chunks is set per kind: see EVENTS_BEFORE_TEXT
    "down": {"fail_status": 500},
}
EVENTS_BEFORE_TEXT = {"anthropic": 3, "gemini": 0}  # message_start, block start, ping
MOCKS = {"anthropic": MockAnthropic, "gemini": MockGemini}


@dataclass
class World:
    suite: Suite
    mocks: dict[str, MockUpstream]  # by model name


def _model(kind: str, fault: str) -> str:
    return f"{kind}-{fault}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mocks: dict[str, MockUpstream] = {}
    config = "providers:\n"
    prices = "prices:\n"
    for kind, mock_type in MOCKS.items():
        for fault, options in FAULTS.items():
            if fault == "cut":
                options = {"break_after_chunks": EVENTS_BEFORE_TEXT[kind] + TEXT_CHUNKS}
            model = _model(kind, fault)
            mocks[model] = mock = mock_type(api_key=KEY, **options).start()
            config += (
                f"  - {{name: {model}, kind: {kind}, base_url: '{mock.base_url}',"
                f" api_key_env: PROVIDER_KEY, models: [{model}]}}\n"
            )
            prices += (
                f"  - {{model: {model}, input: '{INPUT_PRICE}', output: '{OUTPUT_PRICE}',"
                " currency: CNY}\n"
            )
    home: Path = tmp_path_factory.mktemp("provider-faults")
    suite = start_suite(
        home,
        f"sqlite:///{home / 'tollgate.db'}",
        config=config + prices,
        extra_env={"PROVIDER_KEY": KEY},
    )
    try:
        yield World(suite, mocks)
    finally:
        stop_suite(suite)
        for mock in mocks.values():
            mock.stop()


def rows_for(suite: Suite, project: str, count: int) -> list[Any]:
    """The project's ledger rows once there are `count`, and a moment later, so that a
    duplicate would show."""
    deadline = time.monotonic() + 15
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project)))
        if len(rows) >= count:
            time.sleep(0.3)
            with suite.engine.connect() as conn:
                return list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project)))
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def price_nano(row: Any) -> int:
    """The cost of the row's tokens at the configured prices, exactly."""
    tokens_cost = row.prompt_tokens * INPUT_PRICE + row.completion_tokens * OUTPUT_PRICE
    return int(tokens_cost * NANO_PER_MILLION_TOKENS)


def reserved(world: World, secret: str) -> str:
    usage = httpx.get(
        f"{world.suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    return str(usage["budget"]["reserved"])


def sdk(world: World, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=world.suite.base_url, api_key=secret, max_retries=0)


@pytest.mark.parametrize("kind", list(MOCKS))
def test_a_client_leaving_mid_stream_stops_the_upstream_and_pays_the_estimate(
    world: World, kind: str
) -> None:
    model = _model(kind, "slow")
    mock = world.mocks[model]
    project, secret = world.suite.project_with_key(f"leaves-{kind}", budget="1")
    aborted, finished = mock.state.streams.aborted, mock.state.streams.finished
    stream = sdk(world, secret).chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
    )
    got = ""
    for chunk in stream:
        got += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        if got.count("budget") >= 3:
            break
    stream.close()
    left = time.monotonic()
    while mock.state.streams.aborted == aborted and time.monotonic() - left < 5:
        time.sleep(0.01)
    assert mock.state.streams.aborted == aborted + 1
    assert time.monotonic() - left < 2.0, "the upstream saw the cancellation late"
    assert mock.state.streams.finished == finished

    (row,) = rows_for(world.suite, project, 1)
    assert (row.status, row.usage_source, row.provider) == ("partial", "estimated", model)
    assert row.prompt_tokens > 0
    assert count_text(got, model) <= row.completion_tokens < count_text(FULL_REPLY, model)
    assert row.cost_nano == price_nano(row) > 0
    assert reserved(world, secret) == "0.00"


@pytest.mark.parametrize("kind", list(MOCKS))
def test_a_broken_upstream_stream_is_billed_as_an_estimate(world: World, kind: str) -> None:
    model = _model(kind, "cut")
    project, secret = world.suite.project_with_key(f"cut-{kind}", budget="1")
    stream = sdk(world, secret).chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
    )
    texts: list[str] = []
    with pytest.raises(openai.APIError, match="stream"):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
    assert len(texts) == TEXT_CHUNKS and FULL_REPLY.startswith("".join(texts))

    (row,) = rows_for(world.suite, project, 1)
    assert (row.status, row.usage_source) == ("partial", "estimated")
    assert row.completion_tokens == count_text("".join(texts), model)
    assert row.cost_nano == price_nano(row) > 0
    assert reserved(world, secret) == "0.00"


@pytest.mark.parametrize("kind", list(MOCKS))
def test_an_upstream_error_before_any_output_costs_nothing(world: World, kind: str) -> None:
    model = _model(kind, "down")
    project, secret = world.suite.project_with_key(f"down-{kind}", budget="1")
    client = sdk(world, secret)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model=model,
                messages=MESSAGES,
                stream=stream,
            )
        assert info.value.status_code == 502
        assert info.value.body["code"] == "upstream_error"  # type: ignore[index]

    rows = rows_for(world.suite, project, 2)
    assert len(rows) == 2
    assert all(
        (r.status, r.http_status, r.cost_nano, r.prompt_tokens, r.completion_tokens)
        == ("failed", 502, 0, 0, 0)
        for r in rows
    )
    assert sorted(r.stream for r in rows) == [False, True]
    assert reserved(world, secret) == "0.00"
