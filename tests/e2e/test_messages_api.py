"""The Anthropic-format front door (/v1/messages) through the whole suite, called with the
official anthropic SDK: on the demo model, an OpenAI-compatible upstream and an
Anthropic upstream, streaming and not, with tools and images. The answer is right, each
call leaves one ledger row whose cost is the provider's usage times the price exactly,
bad requests get Anthropic-format 4xx and cost nothing, and a client that leaves
mid-stream stops the upstream and pays the estimate."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from sqlalchemy import select

from services.router.providers.demo import model as demo
from tests.conftest import postgres_schema
from tests.e2e.suite import Suite, start_suite, stop_suite
from tollgate.db.models import LEDGER
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.openai_upstream import MockUpstream

KEY = "upstream-key-for-messages-tests"
INPUT, OUTPUT, CACHED = 21, 105, 7  # CNY per million tokens
NANO_PER_TOKEN_UNIT = 10**9 // 10**6
CACHE_READ_TOKENS = 4  # the Anthropic mock reports this many prompt tokens as cache reads
# model -> provider name in the ledger
MODELS = {"demo": "demo", "compat-model": "compat", "claude-mock": "claude"}
SLOW_MODEL = "claude-slow"
CUT_MODEL = "claude-cut"
TEXT_EVENTS = 5  # text deltas the cut upstream sends before it breaks
IMAGE = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
TOOL: Any = {
    "name": "lookup",
    "description": "Look a word up.",
    "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}},
}


@dataclass
class World:
    suite: Suite
    slow: MockUpstream
    upstreams: dict[str, MockUpstream]  # by model name


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    compat = MockUpstream(api_key=KEY).start()
    claude = MockAnthropic(api_key=KEY, cache_read_tokens=CACHE_READ_TOKENS).start()
    slow = MockAnthropic(api_key=KEY, token_delay_ms=100).start()
    # message_start, content_block_start and ping come before the text.
    cut = MockAnthropic(api_key=KEY, break_after_chunks=3 + TEXT_EVENTS).start()
    config = (
        "providers:\n"
        "  - {name: demo, kind: demo, models: [demo]}\n"
        f"  - {{name: compat, kind: openai, base_url: '{compat.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [compat-model]}\n"
        f"  - {{name: claude, kind: anthropic, base_url: '{claude.base_url}',"
        " api_key_env: PROVIDER_KEY, models: [claude-mock]}\n"
        f"  - {{name: slow, kind: anthropic, base_url: '{slow.base_url}',"
        f" api_key_env: PROVIDER_KEY, models: [{SLOW_MODEL}]}}\n"
        f"  - {{name: cut, kind: anthropic, base_url: '{cut.base_url}',"
        f" api_key_env: PROVIDER_KEY, models: [{CUT_MODEL}]}}\n"
        "prices:\n"
    )
    for model in [*MODELS, SLOW_MODEL, CUT_MODEL]:
        config += (
            f"  - {{model: {model}, input: '{INPUT}', output: '{OUTPUT}',"
            f" cached_input: '{CACHED}', currency: CNY}}\n"
        )
    home: Path = tmp_path_factory.mktemp(f"messages-{request.param}")
    with ExitStack() as stack:
        for mock in (compat, claude, slow, cut):
            stack.callback(mock.stop)
        if request.param == "sqlite":
            url = f"sqlite:///{home / 'tollgate.db'}"
        else:
            url = stack.enter_context(postgres_schema())
        suite = start_suite(home, url, config=config, extra_env={"PROVIDER_KEY": KEY})
        stack.callback(stop_suite, suite)
        yield World(suite, slow, {"compat-model": compat, "claude-mock": claude})


def client(world: World, secret: str) -> anthropic.Anthropic:
    root = world.suite.base_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key=secret, max_retries=0)


def text_of(message: Any) -> str:
    """The text of a message that must start with a text block."""
    block = message.content[0]
    assert block.type == "text"
    return str(block.text)


def error_type_of(error: anthropic.APIStatusError) -> str:
    body: Any = error.body
    return str(body["error"]["type"])


def rows_for(suite: Suite, project: str, count: int) -> list[Any]:
    """The project's ledger rows, in call order, once there are `count`, and a moment
    later, so that a duplicate would show."""
    deadline = time.monotonic() + 15
    while True:
        with suite.engine.connect() as conn:
            rows = list(conn.execute(select(LEDGER).where(LEDGER.c.project_id == project)))
        if len(rows) >= count or time.monotonic() > deadline:
            time.sleep(0.3)
            with suite.engine.connect() as conn:
                query = select(LEDGER).where(LEDGER.c.project_id == project)
                # In call order: the router delivers usage records asynchronously, so
                # insertion order (the id) may differ from the order of the calls.
                return sorted(conn.execute(query), key=lambda r: (r.started_at, r.id))
        time.sleep(0.05)


def price_nano(row: Any) -> int:
    uncached = row.prompt_tokens - row.cached_tokens
    units = uncached * INPUT + row.cached_tokens * CACHED + row.completion_tokens * OUTPUT
    return int(units * NANO_PER_TOKEN_UNIT)


def reserved(world: World, secret: str) -> str:
    usage = httpx.get(
        f"{world.suite.base_url}/usage", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    return str(usage["budget"]["reserved"])


@pytest.mark.parametrize("model", list(MODELS))
def test_messages_streamed_or_not_with_tools_and_images_bill_the_provider_usage(
    world: World, model: str
) -> None:
    project, secret = world.suite.project_with_key(f"messages-{model}", budget="10")
    sdk = client(world, secret)
    system: Any = [{"type": "text", "text": "Answer briefly."}]
    ask: Any = [{"role": "user", "content": "Which door is this?"}]

    reply = sdk.messages.create(
        model=model, max_tokens=200, system=system, messages=ask, metadata={"user_id": "ann"}
    )
    assert text_of(reply) == demo.REPLY_PREFIX + "Which door is this?"
    assert reply.stop_reason == "end_turn" and reply.id.startswith("msg_")
    assert reply._request_id and reply.id == "msg_" + reply._request_id.removeprefix("req_")

    with sdk.messages.stream(model=model, max_tokens=200, system=system, messages=ask) as stream:
        streamed_text = "".join(stream.text_stream)
        streamed = stream.get_final_message()
    assert streamed_text == text_of(reply) == text_of(streamed)
    assert streamed.usage.output_tokens == reply.usage.output_tokens
    assert streamed.usage.input_tokens == reply.usage.input_tokens
    assert streamed.stop_reason == "end_turn"

    called = sdk.messages.create(
        model=model,
        max_tokens=200,
        messages=ask,
        tools=[TOOL],
        tool_choice={"type": "any"},
    )
    (use,) = [b for b in called.content if b.type == "tool_use"]
    assert (use.name, called.stop_reason) == ("lookup", "tool_use")
    assert list(use.input) == ["word"]  # the demo model fills the input schema's property

    follow_up: list[Any] = [
        *ask,
        {"role": "assistant", "content": [b.model_dump() for b in called.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "a door"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": IMAGE},
                },
                {"type": "text", "text": "And this picture?"},
            ],
        },
    ]
    with sdk.messages.stream(
        model=model,
        max_tokens=200,
        messages=follow_up,
        tools=[TOOL],
    ) as stream:
        answered = stream.get_final_message()
    assert text_of(answered) == demo.REPLY_PREFIX + "And this picture?"
    if model in world.upstreams:  # what the upstream was sent, in its own format
        sent = world.upstreams[model].state.requests[-1]["messages"]
        if model == "claude-mock":
            blocks = sent[-1]["content"]
            assert [b["type"] for b in blocks] == ["tool_result", "image", "text"]
            assert blocks[0]["tool_use_id"] == use.id
            assert blocks[1]["source"] == {
                "type": "base64",
                "media_type": "image/png",
                "data": IMAGE,
            }
        else:
            assert sent[-2] == {"role": "tool", "tool_call_id": use.id, "content": "a door"}
            assert sent[-1]["content"][0]["image_url"]["url"] == "data:image/png;base64," + IMAGE

    with sdk.messages.stream(
        model=model,
        max_tokens=200,
        messages=ask,
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "lookup"},
    ) as stream:
        streamed_call = stream.get_final_message()
    assert [b.type for b in streamed_call.content] == ["tool_use"]
    assert streamed_call.stop_reason == "tool_use"

    rows = rows_for(world.suite, project, 5)
    assert len(rows) == 5
    assert [r.provider for r in rows] == [MODELS[model]] * 5
    assert all(r.usage_source == "provider" and r.status == "ok" for r in rows)
    assert [r.stream for r in rows] == [False, True, False, True, True]
    first = rows[0]
    assert first.end_user == "ann"
    assert (first.prompt_tokens, first.completion_tokens, first.cached_tokens) == (
        reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0),
        reply.usage.output_tokens,
        reply.usage.cache_read_input_tokens or 0,
    )
    expected_cached = CACHE_READ_TOKENS if model == "claude-mock" else 0
    assert all(r.cached_tokens == expected_cached for r in rows)
    for row in rows:
        assert row.cost_nano == price_nano(row) > 0
    assert reserved(world, secret) == "0.00"


def test_count_tokens_is_the_estimate_the_demo_model_bills(world: World) -> None:
    project, secret = world.suite.project_with_key("counts")
    sdk = client(world, secret)
    ask: Any = [{"role": "user", "content": "Count me, please."}]
    counted = sdk.messages.count_tokens(model="demo", system="Briefly.", messages=ask)
    reply = sdk.messages.create(model="demo", max_tokens=50, system="Briefly.", messages=ask)
    assert counted.input_tokens == reply.usage.input_tokens > 0
    assert len(rows_for(world.suite, project, 1)) == 1  # counting is not billed


def test_cache_marks_reach_anthropic_and_no_other_upstream(world: World) -> None:
    _, secret = world.suite.project_with_key("cache-marks", budget="10")
    sdk = client(world, secret)
    mark: Any = {"type": "ephemeral"}
    system: Any = [{"type": "text", "text": "A long shared preamble.", "cache_control": mark}]
    ask: Any = [
        {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": mark}]}
    ]
    for model, upstream in world.upstreams.items():
        sdk.messages.create(model=model, max_tokens=20, system=system, messages=ask)
        sent = upstream.state.requests[-1]
        if model == "claude-mock":
            assert sent["system"][0]["cache_control"] == mark
            assert sent["messages"][-1]["content"][0]["cache_control"] == mark
        else:  # strict OpenAI-compatible servers refuse fields they do not know
            assert "cache_control" not in json.dumps(sent)
            assert sent["messages"][-1]["content"][0]["text"] == "Hi"


def _raw_post(world: World, secret: str, body: bytes, path: str = "/messages") -> httpx.Response:
    return httpx.post(
        world.suite.base_url + path,
        content=body,
        headers={"x-api-key": secret, "content-type": "application/json"},
    )


def test_bad_requests_get_anthropic_errors_and_cost_nothing(world: World) -> None:
    project, secret = world.suite.project_with_key("bad-requests", budget="1")
    sdk = client(world, secret)
    ask: Any = [{"role": "user", "content": "hi"}]

    with pytest.raises(anthropic.BadRequestError) as bad:
        sdk.messages.create(model="demo", messages=ask, max_tokens=0)
    assert error_type_of(bad.value) == "invalid_request_error"
    assert "max_tokens" in bad.value.message
    with pytest.raises(anthropic.BadRequestError, match="messages.0.role"):
        sdk.messages.create(
            model="demo", max_tokens=5, messages=[{"role": "system", "content": "x"}]
        )
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.create(model="no-such-model", max_tokens=5, messages=ask)
    assert error_type_of(missing.value) == "not_found_error"
    with pytest.raises(anthropic.AuthenticationError):
        client(world, "tg-not-a-key").messages.create(model="demo", max_tokens=5, messages=ask)
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.count_tokens(model="no-such-model", messages=ask)

    for body in (
        b"{not json",
        b'{"model": "demo", "messages": [{"role": "user", "content": "x"}]}',
    ):
        answer = _raw_post(world, secret, body)
        assert answer.status_code == 400
        assert answer.headers["request-id"].startswith("req_")
        error = answer.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert error["request_id"] == answer.headers["request-id"]
    bearer = httpx.post(
        world.suite.base_url + "/messages",
        json={"model": "demo", "max_tokens": 5, "messages": ask},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert bearer.status_code == 200 and bearer.headers["request-id"].startswith("req_")

    rows = rows_for(world.suite, project, 1)
    assert len(rows) == 1  # only the bearer call that was served
    assert reserved(world, secret) == "0.00"


def test_a_client_leaving_mid_stream_stops_the_upstream_and_pays_the_estimate(
    world: World,
) -> None:
    project, secret = world.suite.project_with_key("leaves-messages", budget="1")
    streams = world.slow.state.streams
    aborted, finished = streams.aborted, streams.finished
    said = "budget " * 30
    got = ""
    with client(world, secret).messages.stream(
        model=SLOW_MODEL, max_tokens=500, messages=[{"role": "user", "content": said}]
    ) as stream:
        for text in stream.text_stream:
            got += text
            if got.count("budget") >= 3:
                break
    left = time.monotonic()
    while streams.aborted == aborted and time.monotonic() - left < 5:
        time.sleep(0.01)
    assert streams.aborted == aborted + 1
    assert time.monotonic() - left < 2.0, "the upstream saw the cancellation late"
    assert streams.finished == finished

    (row,) = rows_for(world.suite, project, 1)
    assert (row.status, row.usage_source, row.provider) == ("partial", "estimated", "slow")
    assert 0 < row.completion_tokens < len(demo.REPLY_PREFIX + said)
    assert row.cost_nano == price_nano(row) > 0
    assert reserved(world, secret) == "0.00"


def test_a_stream_broken_upstream_ends_in_an_error_event_and_an_estimate(world: World) -> None:
    project, secret = world.suite.project_with_key("cut-messages", budget="1")
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as broken:  # noqa: PT012 (raised mid-stream)
        with client(world, secret).messages.stream(
            model=CUT_MODEL, max_tokens=500, messages=[{"role": "user", "content": "budget " * 30}]
        ) as stream:
            texts.extend(stream.text_stream)
    assert error_type_of(broken.value) == "api_error"
    assert len(texts) == TEXT_EVENTS

    (row,) = rows_for(world.suite, project, 1)
    assert (row.status, row.usage_source) == ("partial", "estimated")
    assert row.cost_nano == price_nano(row) > 0
    assert reserved(world, secret) == "0.00"
