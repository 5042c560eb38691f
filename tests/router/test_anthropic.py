"""The Anthropic provider: translation both ways, errors, and the provider and the
official SDK against the mock Messages API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import pytest

from services.router.providers.anthropic import AnthropicProvider, anthropic_request
from services.router.providers.base import ChatCall, Completion, StreamChunk, UpstreamError
from services.router.server import RouterServicer
from tollgate.config import ProviderConfig, Route
from tollgate.demo import REPLY_PREFIX
from tollgate.mock_anthropic import MockAnthropic
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

from .harness import collect, eventually, free_port, run

KEY = "sk-ant-secret-1234"
MODEL = "claude-test"
HELLO = {"model": "alias", "messages": [{"role": "user", "content": "hi there"}]}


def _config(base_url: str, timeout: float = 5.0) -> ProviderConfig:
    return ProviderConfig("anth", "anthropic", (MODEL,), base_url, KEY, timeout)


def _call(body: dict[str, Any]) -> ChatCall:
    return ChatCall("req-1", MODEL, body)


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


# --- request translation -------------------------------------------------------------------


def test_request_translation() -> None:
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "look", "arguments": '{"where": "left"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "look"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "-"}]},
            {"role": "user", "content": "Thanks"},
            {"role": "assistant", "content": "You are welcome."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "look",
                    "description": "Look somewhere.",
                    "parameters": {"type": "object", "properties": {"where": {"type": "string"}}},
                },
            },
            {"type": "function", "function": {"name": "noop"}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "parallel_tool_calls": False,
        "stop": "END",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_completion_tokens": 77,
        "max_tokens": 11,
        "user": "user-42",
        "frequency_penalty": 1,
        "seed": 7,
        "response_format": {"type": "json_object"},
        "stream_options": {"include_usage": True},
    }
    before = json.dumps(body)
    assert anthropic_request(body, MODEL, stream=True) == {
        "model": MODEL,
        "max_tokens": 77,
        "system": "Be brief.\n\nUse tools.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is here?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "look",
                        "input": {"where": "left"},
                    },
                    {"type": "tool_use", "id": "call_2", "name": "look", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "-"},
                    {"type": "text", "text": "Thanks"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "You are welcome."}]},
        ],
        "tools": [
            {
                "name": "look",
                "description": "Look somewhere.",
                "input_schema": {"type": "object", "properties": {"where": {"type": "string"}}},
            },
            {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "tool", "name": "look", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "metadata": {"user_id": "user-42"},
        "stream": True,
    }
    assert json.dumps(body) == before  # the client's body is not mutated


def test_request_defaults() -> None:
    assert anthropic_request(HELLO, MODEL, stream=False) == {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
    }
    request = anthropic_request({**HELLO, "max_tokens": 5, "stop": ["a", "b"]}, MODEL, stream=False)
    assert (request["max_tokens"], request["stop_sequences"]) == (5, ["a", "b"])


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto"}),
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    body = {**HELLO, "tools": [TOOL], **({"tool_choice": choice} if choice else {})}
    request = anthropic_request(body, MODEL, stream=False)
    assert request["tool_choice"] == expected
    assert request["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]


def test_tool_choice_none_leaves_the_tools_out() -> None:
    request = anthropic_request(
        {**HELLO, "tools": [TOOL], "tool_choice": "none"}, MODEL, stream=False
    )
    assert "tools" not in request and "tool_choice" not in request


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**HELLO, "n": 2}, "n"),
        ({"model": "m", "messages": []}, "messages"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                    }
                ],
            },
            "messages",
        ),  # noqa: E501
        ({**HELLO, "tools": [TOOL], "tool_choice": "sometimes"}, "tool_choice"),
        ({**HELLO, "temperature": 1.5}, "temperature"),  # OpenAI allows 2, Anthropic 1
        ({"model": "m", "messages": [{"role": "user", "content": ""}]}, "messages"),
    ],
)
def test_untranslatable_requests_are_400(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        anthropic_request(body, MODEL, stream=False)
    assert (caught.value.http_status, caught.value.type, caught.value.param) == (
        400,
        "invalid_request_error",
        param,
    )
    assert caught.value.message


def test_n_above_one_is_refused_before_any_call() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    provider = _scripted(handler)
    error = run(_error_of(provider, _call({**HELLO, "n": 3}), stream=False))
    assert (error.http_status, error.param) == (400, "n") and "n must be 1" in error.message
    assert not sent


# --- response translation over a scripted transport ----------------------------------------


def _scripted(handler: Callable[[httpx.Request], httpx.Response]) -> AnthropicProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AnthropicProvider(_config("http://upstream/v1"), client=client)


def _replying(
    status: int, body: bytes, sent: list[httpx.Request] | None = None
) -> AnthropicProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        return httpx.Response(status, content=body)

    return _scripted(handler)


async def _complete(provider: AnthropicProvider, call: ChatCall) -> Completion:
    try:
        return await provider.complete(call)
    finally:
        await provider.aclose()


async def _chunks(provider: AnthropicProvider, call: ChatCall) -> list[StreamChunk]:
    try:
        return [chunk async for chunk in provider.stream(call)]
    finally:
        await provider.aclose()


async def _error_of(provider: AnthropicProvider, call: ChatCall, stream: bool) -> UpstreamError:
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


MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-real",
    "content": [
        {"type": "text", "text": "Let me "},
        {"type": "text", "text": "look."},
        {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"where": "left"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 100,
        "output_tokens": 20,
    },
}


def test_response_translation() -> None:
    sent: list[httpx.Request] = []
    provider = _replying(200, json.dumps(MESSAGE).encode(), sent)
    completion = run(_complete(provider, _call(HELLO)))
    data = completion.data
    assert json.loads(completion.body) == data
    assert data["id"] == "chatcmpl-msg_01" and isinstance(data["created"], int)
    assert {k: data[k] for k in ("object", "model")} == {
        "object": "chat.completion",
        "model": "claude-real",
    }
    assert data["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Let me look.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "look", "arguments": '{"where": "left"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ]
    assert data["usage"] == {
        "prompt_tokens": 115,
        "completion_tokens": 20,
        "total_tokens": 135,
        # cache writes under OpenRouter's name, so an OpenAI client sees them too
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 5},
    }
    # prompt_tokens is the whole input (10 + 100 read + 5 written); each part has its price.
    assert completion.usage == common_pb2.Usage(
        prompt_tokens=115, completion_tokens=20, cached_tokens=100, cache_write_tokens=5
    )
    (request,) = sent
    assert str(request.url) == "http://upstream/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert json.loads(request.content)["model"] == MODEL


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
    ],
)
def test_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    message = {**MESSAGE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    completion = run(_complete(_replying(200, json.dumps(message).encode()), _call(HELLO)))
    choice = completion.data["choices"][0]
    assert choice["finish_reason"] == finish_reason
    assert choice["message"]["content"] == "x" and "tool_calls" not in choice["message"]


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


START = {
    "type": "message_start",
    "message": {
        "id": "msg_02",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-real",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 30,
            "output_tokens": 1,
        },
    },
}
TEXT_STREAM = _sse(
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 15},
    },
    {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 16}},
    {"type": "message_stop"},
)


def _delta(chunk: StreamChunk) -> tuple[dict[str, Any], str | None]:
    (choice,) = chunk.data["choices"]
    return choice["delta"], choice["finish_reason"]


def test_stream_translation_takes_the_last_usage() -> None:
    chunks = run(_chunks(_replying(200, TEXT_STREAM), _call({**HELLO, "stream": True})))
    for chunk in chunks:
        assert json.loads(chunk.raw) == chunk.data and b" " not in chunk.raw.replace(b"Hello!", b"")
        assert chunk.data["id"] == "chatcmpl-msg_02" and chunk.data["model"] == "claude-real"
        assert chunk.data["object"] == "chat.completion.chunk"
    *content, usage = chunks
    assert [_delta(c) for c in content] == [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": "Hello"}, None),
        ({"content": "!"}, None),
        ({}, "stop"),
    ]
    assert all(c.usage is None for c in content)
    assert usage.data["choices"] == []
    assert usage.data["usage"] == {
        "prompt_tokens": 42,
        "completion_tokens": 16,  # the last cumulative count, not 1 + 15 + 16
        "total_tokens": 58,
        "prompt_tokens_details": {"cached_tokens": 30},
    }
    assert usage.usage == common_pb2.Usage(prompt_tokens=42, completion_tokens=16, cached_tokens=30)


def test_stream_translation_of_tool_use() -> None:
    def tool_start(index: int, id_: str, name: str) -> dict[str, Any]:
        block = {"type": "tool_use", "id": id_, "name": name, "input": {}}
        return {"type": "content_block_start", "index": index, "content_block": block}

    def json_delta(index: int, partial: str) -> dict[str, Any]:
        delta = {"type": "input_json_delta", "partial_json": partial}
        return {"type": "content_block_delta", "index": index, "delta": delta}

    body = _sse(
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Ok"}},
        {"type": "content_block_stop", "index": 0},
        tool_start(1, "toolu_a", "look"),
        json_delta(1, ""),
        json_delta(1, '{"where": '),
        json_delta(1, '"left"}'),
        {"type": "content_block_stop", "index": 1},
        tool_start(2, "toolu_b", "noop"),
        json_delta(2, "{}"),
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    )
    chunks = run(_chunks(_replying(200, body), _call({**HELLO, "stream": True})))
    assert [_delta(c) for c in chunks[1:-1]] == [
        ({"content": "Ok"}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_a",
                        "type": "function",
                        "function": {"name": "look", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"where": '}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"left"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_b",
                        "type": "function",
                        "function": {"name": "noop", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
    ]
    assert chunks[-1].usage == common_pb2.Usage(
        prompt_tokens=42, completion_tokens=9, cached_tokens=30
    )


# --- errors --------------------------------------------------------------------------------


def _anthropic_error(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (400, "invalid_request_error", (400, "invalid_request_error", "")),
        (404, "not_found_error", (404, "invalid_request_error", "")),
        (413, "request_too_large", (413, "invalid_request_error", "")),
        (422, "invalid_request_error", (422, "invalid_request_error", "")),
        (401, "authentication_error", (502, "server_error", "upstream_auth_failed")),
        (403, "permission_error", (502, "server_error", "upstream_auth_failed")),
        (429, "rate_limit_error", (429, "rate_limit_error", "upstream_rate_limited")),
        (529, "overloaded_error", (429, "rate_limit_error", "upstream_rate_limited")),
        (500, "api_error", (502, "server_error", "upstream_error")),
    ],
)
def test_error_statuses(
    status: int, kind: str, expected: tuple[int, str, str], stream: bool
) -> None:
    body = _anthropic_error(kind, f"upstream says {KEY} is wrong")
    error = run(_error_of(_replying(status, body), _call(HELLO), stream))
    assert (error.http_status, error.type, error.code) == expected
    if status in (400, 404, 413, 422):
        assert error.message == f"upstream says {KEY} is wrong"  # Anthropic's own message
    else:
        assert KEY not in error.message and "upstream says" not in error.message


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("overloaded_error", (429, "upstream_rate_limited")), ("api_error", (502, "upstream_error"))],
)
def test_an_error_event_mid_stream(kind: str, expected: tuple[int, str]) -> None:
    body = _sse(
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "error", "error": {"type": kind, "message": "Overloaded"}},
    )
    error = run(_error_of(_replying(200, body), _call(HELLO), stream=True))
    assert (error.http_status, error.code) == expected


def test_a_stream_cut_before_message_stop_is_an_error() -> None:
    body = TEXT_STREAM.split(b"event: message_delta")[0]
    error = run(_error_of(_replying(200, body), _call(HELLO), stream=True))
    assert (error.http_status, error.code) == (502, "upstream_error")


@pytest.mark.parametrize("stream", [False, True])
def test_timeouts_and_unreachable_upstreams(stream: bool) -> None:
    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    error = run(_error_of(_scripted(timing_out), _call(HELLO), stream))
    assert (error.http_status, error.code) == (504, "upstream_timeout")
    provider = AnthropicProvider(_config(f"http://127.0.0.1:{free_port()}/v1"))
    error = run(_error_of(provider, _call(HELLO), stream))
    assert (error.http_status, error.code) == (502, "upstream_unavailable")


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
        provider = AnthropicProvider(_config(mock.base_url))
        try:
            completion = await provider.complete(_call(body))
            chunks = [c async for c in provider.stream(_call({**body, "stream": True}))]
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
        provider = AnthropicProvider(_config(mock.base_url))
        try:
            completion = await provider.complete(_call(body))
            chunks = [c async for c in provider.stream(_call({**body, "stream": True}))]
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
        provider = AnthropicProvider(_config(mock.base_url))
        try:
            stream = provider.stream(_call({**HELLO, "stream": True}))
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


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[metering_pb2.UsageRecord] = []

    def put(self, record: metering_pb2.UsageRecord) -> None:
        self.records.append(record)


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
        provider = AnthropicProvider(_config(mock.base_url))
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
    return _sse(
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
    provider = _replying(200, _cache_write_stream(delta_usage))
    *_, last = run(_chunks(provider, _call({**HELLO, "stream": True})))
    assert last.usage == CACHE_WRITE_USAGE
    # The client still sees OpenAI's usage block: the whole input, and the cache reads.
    assert last.data["usage"]["prompt_tokens"] == 2090
    assert last.data["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 30,
        "cache_write_tokens": 2048,
    }


def test_the_router_records_cache_write_tokens() -> None:
    recorder = ListRecorder()
    provider = _replying(200, _cache_write_stream({"output_tokens": 16}))
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
