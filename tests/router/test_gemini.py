"""The Gemini provider: translation both ways, error mapping, and calls over HTTP to
the mock Gemini, which the official google-genai SDK checks for realism."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import types

from services.router.providers.base import ChatCall, StreamChunk, UpstreamError
from services.router.providers.gemini import GeminiProvider, completion_body, request_body
from services.router.server import RouterServicer
from tollgate import demo
from tollgate.config import ProviderConfig, Route
from tollgate.mock_gemini import MockGemini
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

from .harness import Events, collect, eventually, free_port, run

KEY = "gm-secret-key-5678"
MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def _call(body: dict[str, Any]) -> ChatCall:
    return ChatCall("req-1", MODEL, body)


def _hi(**extra: Any) -> ChatCall:
    return _call({"model": "alias", "messages": [{"role": "user", "content": "hi"}], **extra})


def _config(base_url: str, timeout: float = 5.0) -> ProviderConfig:
    return ProviderConfig("gm", "gemini", (MODEL,), base_url, KEY, timeout)


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


# ---- request translation ------------------------------------------------------------


def test_request_translation() -> None:
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.webp?s=1"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/photo"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_a", "content": [{"type": "text", "text": "4C"}]},
            {"role": "assistant", "content": "4C in Oslo."},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "max_completion_tokens": 100,
        "stop": "END",
        "n": 2,
        "logit_bias": {"1": 2},
        "user": "u-1",
        "stream_options": {"include_usage": True},
    }
    original = json.dumps(body)
    assert request_body(body) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather here?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
                    {
                        "fileData": {
                            "fileUri": "https://x.test/a.webp?s=1",
                            "mimeType": "image/webp",
                        }
                    },
                    {"fileData": {"fileUri": "https://x.test/photo", "mimeType": "image/jpeg"}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                    {"functionCall": {"name": "get_time", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "4C"}}},
                ],
            },
            {"role": "model", "parts": [{"text": "4C in Oslo."}]},
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "The weather in a city.",
                        "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
                    }
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 100,
            "stopSequences": ["END"],
            "candidateCount": 2,
        },
    }
    assert json.dumps(body) == original  # the client's body is not mutated


@pytest.mark.parametrize(
    ("choice", "mode"), [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")]
)
def test_tool_choice_modes(choice: str, mode: str) -> None:
    out = request_body({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL]})
    assert "toolConfig" not in out
    out = request_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": choice,
        }
    )
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_json_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = request_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": schema},
            },
        }
    )
    assert out["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "tool_call_id": "call_x", "content": "orphan"}],
        [{"role": "user", "content": [{"type": "file", "file": {}}]}],
        [{"role": "robot", "content": "x"}],
        [],
    ],
)
def test_untranslatable_requests_are_client_errors(messages: list[Any]) -> None:
    with pytest.raises(UpstreamError) as caught:
        request_body({"messages": messages})
    assert (caught.value.http_status, caught.value.type) == (400, "invalid_request_error")


# ---- response translation -----------------------------------------------------------

USAGE = {
    "promptTokenCount": 120,
    "candidatesTokenCount": 30,
    "thoughtsTokenCount": 50,
    "cachedContentTokenCount": 100,
    "totalTokenCount": 200,
}
EXPECTED_USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 80,
    "total_tokens": 200,
    "prompt_tokens_details": {"cached_tokens": 100},
    "completion_tokens_details": {"reasoning_tokens": 50},
}


def test_response_translation() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Thinking about it", "thought": True},
                        {"text": "Let me "},
                        {"text": "check."},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            },
            {
                "content": {"role": "model", "parts": [{"text": "Too long"}]},
                "finishReason": "MAX_TOKENS",
                "index": 1,
            },
        ],
        "usageMetadata": USAGE,
        "modelVersion": MODEL,
    }
    out = completion_body(data, MODEL)
    assert out["object"] == "chat.completion" and out["model"] == MODEL
    first, second = out["choices"]
    call = first["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and len(call["id"]) > 10
    assert first == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": "Let me check.",
            "refusal": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert second["message"]["content"] == "Too long" and second["finish_reason"] == "length"
    assert out["usage"] == EXPECTED_USAGE


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("OTHER", "stop")],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    candidate = {"content": {"parts": [{"text": "x"}]}, "finishReason": reason}
    assert completion_body({"candidates": [candidate]}, MODEL)["choices"][0]["finish_reason"] == (
        expected
    )


def test_blocked_prompt_is_a_content_filter_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        completion_body(
            {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": USAGE}, MODEL
        )
    assert (caught.value.http_status, caught.value.code) == (400, "content_filter")


# ---- a recorded stream, and errors, through a fake transport ------------------------


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def _fake(status: int, content: bytes) -> tuple[GeminiProvider, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, content=content)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GeminiProvider(_config("https://gm.test/v1beta"), client=client), sent


async def _chunks(provider: GeminiProvider, call: ChatCall) -> list[StreamChunk]:
    try:
        return [chunk async for chunk in provider.stream(call)]
    finally:
        await provider.aclose()


def _text_event(text: str, usage: dict[str, Any], **candidate: Any) -> dict[str, Any]:
    content = {"role": "model", "parts": [{"text": text}]}
    return {"candidates": [{"content": content, "index": 0, **candidate}], "usageMetadata": usage}


def test_recorded_stream() -> None:
    partial = {"promptTokenCount": 120, "totalTokenCount": 120}
    recorded = _sse(
        _text_event("Hel", partial),
        _text_event("lo", {**partial, "thoughtsTokenCount": 50}),
        _text_event("!", USAGE, finishReason="STOP"),
    )
    provider, sent = _fake(200, recorded)
    chunks = run(_chunks(provider, _hi(stream=True)))

    assert (
        str(sent[0].url) == f"https://gm.test/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    )
    assert sent[0].headers["x-goog-api-key"] == KEY
    deltas = [c.data["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {"content": "!"},
        {},
    ]
    assert [c.data["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert len({c.data["id"] for c in chunks}) == 1
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.data["choices"] == [] and last.data["usage"] == EXPECTED_USAGE
    assert last.usage == common_pb2.Usage(
        prompt_tokens=120, completion_tokens=80, cached_tokens=100, reasoning_tokens=50
    )
    for chunk in chunks:
        assert chunk.raw == json.dumps(chunk.data, separators=(",", ":")).encode()


def test_recorded_stream_with_tool_calls() -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
    event = {
        "candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}],
        "usageMetadata": USAGE,
    }
    provider, _ = _fake(200, _sse(event))
    chunks = run(_chunks(provider, _hi(stream=True, tools=[WEATHER_TOOL])))
    tool_calls = chunks[1].data["choices"][0]["delta"]["tool_calls"]
    assert tool_calls == [
        {
            "index": 0,
            "id": tool_calls[0]["id"],
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        }
    ]
    assert chunks[2].data["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[3].usage is not None


def _error(status: int, message: str, reason: str = "") -> bytes:
    error: dict[str, Any] = {"code": status, "message": message, "status": "X"}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return json.dumps({"error": error}).encode()


async def _error_of(provider: GeminiProvider, call: ChatCall, stream: bool) -> UpstreamError:
    try:
        if stream:
            async for _ in provider.stream(call):
                pass
        else:
            await provider.complete(call)
    except UpstreamError as exc:
        return exc
    finally:
        await provider.aclose()
    raise AssertionError("no UpstreamError")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _error(400, "Bad schema."), (400, "invalid_request_error", "", "Bad schema.")),
        (404, _error(404, "No such model."), (404, "invalid_request_error", "", "No such model.")),
        (
            400,
            _error(400, f"Key {KEY} bad", "API_KEY_INVALID"),
            (502, "server_error", "upstream_auth_failed", None),
        ),
        (
            403,
            _error(403, f"Key {KEY} denied"),
            (502, "server_error", "upstream_auth_failed", None),
        ),
        (429, _error(429, "Quota."), (429, "rate_limit_error", "upstream_rate_limited", None)),
        (500, b"oops", (502, "server_error", "upstream_error", None)),
        (
            200,
            json.dumps({"promptFeedback": {"blockReason": "OTHER"}}).encode(),
            (400, "invalid_request_error", "content_filter", None),
        ),
    ],
)
def test_error_mapping(
    stream: bool, status: int, body: bytes, expected: tuple[int, str, str, str | None]
) -> None:
    if stream and status == 200:
        body = b"data: " + body + b"\n\n"
    provider, _ = _fake(status, body)
    error = run(_error_of(provider, _hi(), stream))
    assert (error.http_status, error.type, error.code) == expected[:3]
    if expected[3] is not None:
        assert error.message == expected[3]
    assert KEY not in error.message


@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_and_slow_upstreams(stream: bool) -> None:
    provider = GeminiProvider(_config(f"http://127.0.0.1:{free_port()}/v1beta"))
    error = run(_error_of(provider, _hi(), stream))
    assert (error.http_status, error.code) == (502, "upstream_unavailable")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    provider = GeminiProvider(_config("https://gm.test/v1beta"), client=client)
    error = run(_error_of(provider, _hi(), stream))
    assert (error.http_status, error.code) == (504, "upstream_timeout")


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
        provider = GeminiProvider(_config(mock.base_url))
        try:
            return await provider.complete(_hi(max_tokens=64))
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
        return await _chunks(GeminiProvider(_config(mock.base_url)), _hi(stream=True))

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
        provider = GeminiProvider(_config(mock.base_url))
        try:
            completion = await provider.complete(_call({**body, "tool_choice": named}))
            chunks = [c async for c in provider.stream(_call({**body, "tool_choice": "required"}))]
            return completion, chunks
        finally:
            await provider.aclose()

    completion, chunks = run(go())
    choice = completion.data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": "{}",
    }
    assert mock.app.state.requests[0]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data["choices"]]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None


def test_closing_the_stream_closes_the_upstream(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(token_delay_ms=200)

    async def go() -> None:
        provider = GeminiProvider(_config(mock.base_url))
        stream = provider.stream(_hi(stream=True))
        try:
            first = await stream.__anext__()
            assert first.data["choices"][0]["delta"]["role"] == "assistant"
            await stream.aclose()
            await eventually(lambda: mock.state.streams.aborted == 1, 2.0, "the mock's abort")
        finally:
            await provider.aclose()

    run(go())
    assert mock.state.streams.finished == 0


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[metering_pb2.UsageRecord] = []

    def put(self, record: metering_pb2.UsageRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("stream", [False, True])
def test_router_bills_gemini_usage(stream: bool, gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(thoughts_tokens=4)
    recorder = ListRecorder()
    provider = GeminiProvider(_config(mock.base_url))
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
