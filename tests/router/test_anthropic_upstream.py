"""The Anthropic provider and the official SDK against the mock Messages API over
HTTP, and what the router bills from Anthropic's usage, cache writes included."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.base import Completion, StreamChunk
from services.router.providers.demo.model import REPLY_PREFIX
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate.config import Route
from tollgate.v1 import common_pb2, router_pb2
from tollgate_mocks.anthropic_upstream import MockAnthropic

from .anthropic_helpers import (
    HELLO,
    KEY,
    MODEL,
    START,
    TOOL,
    chat_call,
    provider_config,
    replying,
    sse,
    stream_chunks,
)
from .harness import collect, eventually, run


@pytest.fixture
def mocks() -> Iterator[Callable[..., MockAnthropic]]:
    started: list[MockAnthropic] = []

    def start(**options: Any) -> MockAnthropic:
        mock = MockAnthropic(api_key=KEY, **options).start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.stop()


# --- the official SDK against the mock -----------------------------------------------------


def _sdk(mock: MockAnthropic, key: str = KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock.root, api_key=key, max_retries=0)


def test_sdk_reads_the_mock(mocks: Callable[..., MockAnthropic]) -> None:
    mock = mocks(cache_read_tokens=3)
    client = _sdk(mock)
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        system="Be kind.",
        messages=[{"role": "user", "content": "ping"}],
    )
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.stop_reason == "end_turn"
    (block,) = message.content
    assert block.type == "text" and block.text == REPLY_PREFIX + "ping"
    assert message.usage.cache_read_input_tokens == 3 and message.usage.output_tokens > 0
    assert mock.state.requests[-1]["system"] == "Be kind."
    assert mock.state.headers[-1]["anthropic-version"]  # the SDK's own, newer than ours

    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        system="Be kind.",
        messages=[{"role": "user", "content": "ping"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == REPLY_PREFIX + "ping"
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == message.usage.output_tokens
    assert final.usage.input_tokens == message.usage.input_tokens

    kinds = [
        event.type
        for event in client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "ping"}], stream=True
        )
    ]
    assert kinds[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_sdk_tool_use_and_errors(mocks: Callable[..., MockAnthropic]) -> None:
    mock = mocks()
    tool: Any = {"name": "look", "input_schema": {"type": "object", "properties": {}}}
    forced: Any = {"type": "tool", "name": "look"}
    messages: Any = [{"role": "user", "content": "go"}]
    client = _sdk(mock)
    message = client.messages.create(
        model=MODEL, max_tokens=50, messages=messages, tools=[tool], tool_choice=forced
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use" and block.name == "look" and block.input == {}
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=messages, tools=[tool], tool_choice=forced
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {}
    with pytest.raises(anthropic.AuthenticationError):
        _sdk(mock, key="wrong").messages.create(model=MODEL, max_tokens=5, messages=messages)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=MODEL, max_tokens=0, messages=messages)


# --- the provider against the mock over HTTP -----------------------------------------------


def test_provider_against_the_mock(mocks: Callable[..., MockAnthropic]) -> None:
    mock = mocks(cache_read_tokens=4)
    body = {**HELLO, "messages": [{"role": "system", "content": "S"}, *HELLO["messages"]]}

    async def both() -> tuple[Completion, list[StreamChunk]]:
        provider = AnthropicProvider(provider_config(mock.base_url))
        try:
            completion = await provider.complete(chat_call(body))
            chunks = [c async for c in provider.stream(chat_call({**body, "stream": True}))]
            return completion, chunks
        finally:
            await provider.aclose()

    completion, chunks = run(both())
    message = completion.data["choices"][0]["message"]
    assert message["content"] == REPLY_PREFIX + "hi there"
    assert completion.data["choices"][0]["finish_reason"] == "stop"
    usage = completion.usage
    assert usage is not None and usage.cached_tokens == 4 and usage.completion_tokens > 0
    streamed = "".join(
        c.data["choices"][0]["delta"].get("content") or "" for c in chunks if c.data["choices"]
    )
    assert streamed == message["content"]
    assert chunks[-2].data["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1].usage == usage  # the same reply, the same usage, streamed or not
    sent = mock.state.requests
    assert [r.get("stream") for r in sent] == [None, True]
    assert sent[0]["system"] == "S" and sent[0]["max_tokens"] == 4096 and sent[0]["model"] == MODEL
    headers = mock.state.headers[0]
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"


def test_provider_tools_against_the_mock(mocks: Callable[..., MockAnthropic]) -> None:
    mock = mocks()
    body = {**HELLO, "tools": [TOOL], "tool_choice": "required"}

    async def both() -> tuple[Completion, list[StreamChunk]]:
        provider = AnthropicProvider(provider_config(mock.base_url))
        try:
            completion = await provider.complete(chat_call(body))
            chunks = [c async for c in provider.stream(chat_call({**body, "stream": True}))]
            return completion, chunks
        finally:
            await provider.aclose()

    completion, chunks = run(both())
    choice = completion.data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["function"] == {"name": "f", "arguments": "{}"} and call["id"].startswith("toolu_")
    calls = [
        tc
        for c in chunks
        if c.data["choices"]
        for tc in c.data["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["function"] == {"name": "f", "arguments": ""} and calls[0]["id"].startswith(
        "toolu_"
    )
    assert "".join(tc["function"]["arguments"] for tc in calls) == "{}"
    assert chunks[-2].data["choices"][0]["finish_reason"] == "tool_calls"
    assert mock.state.requests[0]["tool_choice"] == {"type": "any"}


def test_closing_the_stream_early_closes_the_upstream(mocks: Callable[..., MockAnthropic]) -> None:
    mock = mocks(token_delay_ms=50)

    async def first_two() -> None:
        provider = AnthropicProvider(provider_config(mock.base_url))
        try:
            stream = provider.stream(chat_call({**HELLO, "stream": True}))
            await stream.__anext__()
            await stream.__anext__()
            await stream.aclose()
            await eventually(
                lambda: mock.state.streams.aborted == 1, 3, "the mock to see the close"
            )
        finally:
            await provider.aclose()

    run(first_two())
    assert mock.state.streams.finished == 0


@pytest.mark.parametrize("include_usage", [False, True])
def test_the_router_bills_what_anthropic_reports(
    mocks: Callable[..., MockAnthropic], include_usage: bool
) -> None:
    mock = mocks(cache_read_tokens=2)
    recorder = ListRecorder()
    body = {**HELLO, "stream": True}
    request = router_pb2.ChatRequest(
        request_id="r1",
        model="m",
        stream=True,
        include_usage=include_usage,
        body=json.dumps(body).encode(),
    )

    async def call() -> Any:
        provider = AnthropicProvider(provider_config(mock.base_url))
        servicer = RouterServicer({"m": Route("m", MODEL, "anth")}, {"anth": provider}, recorder)
        try:
            return collect([e async for e in servicer.ChatCompletion(request, None)])  # type: ignore[arg-type]
        finally:
            await provider.aclose()

    events = run(call())
    assert not events.errors and events.content == REPLY_PREFIX + "hi there"
    assert any("usage" in c for c in events.chunks) == include_usage
    (record,) = recorder.records
    assert record.usage_source == common_pb2.USAGE_SOURCE_PROVIDER
    assert record.usage.cached_tokens == 2 and record.usage.completion_tokens > 0


# --- cache writes (billed at their own price) -------------------------------------------


def _cache_write_stream(delta_usage: dict[str, int]) -> bytes:
    start = json.loads(json.dumps(START))
    start["message"]["usage"].update(
        {"input_tokens": 12, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 30}
    )
    return sse(
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": delta_usage},
        {"type": "message_stop"},
    )


CACHE_WRITE_USAGE = common_pb2.Usage(
    prompt_tokens=12 + 30 + 2048, completion_tokens=16, cached_tokens=30, cache_write_tokens=2048
)


@pytest.mark.parametrize(
    "delta_usage",
    [
        {"output_tokens": 16},
        # Newer servers repeat the cumulative input counts in message_delta: take, never add.
        {
            "input_tokens": 12,
            "cache_creation_input_tokens": 2048,
            "cache_read_input_tokens": 30,
            "output_tokens": 16,
        },
    ],
    ids=["output-only", "cumulative-input"],
)
def test_streamed_cache_creation_tokens_land_in_cache_write_tokens(
    delta_usage: dict[str, int],
) -> None:
    provider = replying(200, _cache_write_stream(delta_usage))
    *_, last = run(stream_chunks(provider, chat_call({**HELLO, "stream": True})))
    assert last.usage == CACHE_WRITE_USAGE
    # The client still sees OpenAI's usage block: the whole input, and the cache reads.
    assert last.data["usage"]["prompt_tokens"] == 2090
    assert last.data["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 30,
        "cache_write_tokens": 2048,
    }


def test_the_router_records_cache_write_tokens() -> None:
    recorder = ListRecorder()
    provider = replying(200, _cache_write_stream({"output_tokens": 16}))
    request = router_pb2.ChatRequest(
        request_id="cw", model="m", stream=True, body=json.dumps({**HELLO, "stream": True}).encode()
    )

    async def call() -> Any:
        servicer = RouterServicer({"m": Route("m", MODEL, "anth")}, {"anth": provider}, recorder)
        try:
            return collect([e async for e in servicer.ChatCompletion(request, None)])  # type: ignore[arg-type]
        finally:
            await provider.aclose()

    assert not run(call()).errors
    (record,) = recorder.records
    assert record.usage_source == common_pb2.USAGE_SOURCE_PROVIDER
    assert record.usage == CACHE_WRITE_USAGE
