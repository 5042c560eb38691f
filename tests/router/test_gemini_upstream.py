"""The Gemini provider against the mock Gemini over HTTP, which the official
google-genai SDK checks for realism, and what the router bills from Gemini's usage."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google import genai
from google.genai import types

from services.router.providers.base import StreamChunk
from services.router.providers.demo import model as demo
from services.router.providers.gemini import GeminiProvider
from services.router.server import RouterServicer
from tests.router.recorders import ListRecorder
from tollgate.config import Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.gemini_upstream import MockGemini

from .gemini_helpers import KEY, MODEL, WEATHER_TOOL, chat_call, hi, provider_config, stream_chunks
from .harness import Events, collect, eventually, run


@pytest.fixture
def gemini() -> Iterator[Callable[..., MockGemini]]:
    started: list[MockGemini] = []

    def start(**options: Any) -> MockGemini:
        mock = MockGemini(api_key=KEY, **options).start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.stop()


# ---- the official SDK against the mock ----------------------------------------------


def _sdk(mock: MockGemini, api_key: str = KEY) -> genai.Client:
    options = types.HttpOptions(base_url=mock.root_url, api_version="v1beta")
    return genai.Client(api_key=api_key, http_options=options)


def test_sdk_reads_the_mock(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(thoughts_tokens=7)
    client = _sdk(mock)
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    response = client.models.generate_content(model=MODEL, contents="hi there", config=config)
    expected = demo.REPLY_PREFIX + "hi there"
    assert response.text == expected
    usage = response.usage_metadata
    assert usage is not None and usage.thoughts_token_count == 7
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0) + 7
    )
    assert mock.app.state.requests[-1]["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert mock.state.headers[-1]["x-goog-api-key"] == KEY

    events = list(client.models.generate_content_stream(model=MODEL, contents="hi there"))
    assert len(events) > 3
    assert "".join(e.text or "" for e in events) == expected
    assert events[-1].candidates and events[-1].candidates[0].finish_reason == "STOP"
    assert events[-1].usage_metadata == usage
    assert events[0].usage_metadata and events[0].usage_metadata.candidates_token_count is None


def test_sdk_reads_mock_function_calls_and_errors(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini()
    declaration = types.FunctionDeclaration(
        name="get_weather",
        parameters_json_schema=WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    client = _sdk(mock)  # kept: a Client closes its connections when collected
    response = client.models.generate_content(model=MODEL, contents="weather?", config=config)
    assert response.function_calls and response.function_calls[0].name == "get_weather"

    bad = _sdk(mock, api_key="wrong")
    with pytest.raises(genai.errors.ClientError) as caught:
        bad.models.generate_content(model=MODEL, contents="x")
    assert caught.value.code == 400 and "API key not valid" in str(caught.value)


# ---- the provider against the mock over HTTP ----------------------------------------


def test_provider_complete(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(thoughts_tokens=5)

    async def go() -> Any:
        provider = GeminiProvider(provider_config(mock.base_url))
        try:
            return await provider.complete(hi(max_tokens=64))
        finally:
            await provider.aclose()

    completion = run(go())
    message = completion.data["choices"][0]["message"]
    assert message["content"] == demo.REPLY_PREFIX + "hi"
    reply = demo.reply_for({"messages": [{"role": "user", "content": "hi"}]})
    assert completion.usage == common_pb2.Usage(
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens + 5,
        reasoning_tokens=5,
    )
    assert json.loads(completion.body) == completion.data
    assert mock.app.state.requests[-1] == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 64},
    }


def test_provider_stream(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(thoughts_tokens=3)

    async def go() -> list[StreamChunk]:
        return await stream_chunks(GeminiProvider(provider_config(mock.base_url)), hi(stream=True))

    chunks = run(go())
    text = "".join(c.data["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert text == demo.REPLY_PREFIX + "hi"
    usages = [c.usage for c in chunks if c.usage is not None]
    reply = demo.reply_for({"messages": [{"role": "user", "content": "hi"}]})
    assert usages == [
        common_pb2.Usage(
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens + 3,
            reasoning_tokens=3,
        )
    ]
    assert mock.state.streams.finished == 1


def test_provider_tools(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini()
    body = {"messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER_TOOL]}
    named = {"type": "function", "function": {"name": "get_weather"}}

    async def go() -> tuple[Any, list[StreamChunk]]:
        provider = GeminiProvider(provider_config(mock.base_url))
        try:
            completion = await provider.complete(chat_call({**body, "tool_choice": named}))
            chunks = [
                c async for c in provider.stream(chat_call({**body, "tool_choice": "required"}))
            ]
            return completion, chunks
        finally:
            await provider.aclose()

    completion, chunks = run(go())
    choice = completion.data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    function = choice["message"]["tool_calls"][0]["function"]
    assert function["name"] == "get_weather"
    # The demo model fills the forced call's arguments from the parameters' schema.
    assert list(json.loads(function["arguments"])) == ["city"]
    assert mock.app.state.requests[0]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data["choices"]]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None


def test_closing_the_stream_closes_the_upstream(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(token_delay_ms=200)

    async def go() -> None:
        provider = GeminiProvider(provider_config(mock.base_url))
        stream = provider.stream(hi(stream=True))
        try:
            first = await stream.__anext__()
            assert first.data["choices"][0]["delta"]["role"] == "assistant"
            await stream.aclose()
            await eventually(lambda: mock.state.streams.aborted == 1, 2.0, "the mock's abort")
        finally:
            await provider.aclose()

    run(go())
    assert mock.state.streams.finished == 0


@pytest.mark.parametrize("stream", [False, True])
def test_router_bills_gemini_usage(stream: bool, gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(thoughts_tokens=4)
    recorder = ListRecorder()
    provider = GeminiProvider(provider_config(mock.base_url))
    servicer = RouterServicer({"alias": Route("alias", MODEL, "gm")}, {"gm": provider}, recorder)
    body = {"model": "alias", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    request = router_pb2.ChatRequest(
        request_id="req-gm", model="alias", stream=stream, body=json.dumps(body).encode()
    )

    async def go() -> Events:
        try:
            events = servicer.ChatCompletion(request, None)  # type: ignore[arg-type]
            return collect([event async for event in events])
        finally:
            await provider.aclose()

    events = run(go())
    assert not events.errors
    text = events.content if stream else events.responses[0]["choices"][0]["message"]["content"]
    assert text == demo.REPLY_PREFIX + "hi"
    assert all("usage" not in chunk for chunk in events.chunks)  # the client did not ask
    (record,) = recorder.records
    reply = demo.reply_for({"messages": [{"role": "user", "content": "hi"}]})
    assert record.usage_source == common_pb2.USAGE_SOURCE_PROVIDER
    assert record.status == metering_pb2.CALL_STATUS_OK
    assert record.usage == common_pb2.Usage(
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens + 4,
        reasoning_tokens=4,
    )
