"""The Anthropic provider's answers over a scripted transport: messages and streams
translated back to OpenAI's format with their usage, and upstream errors mapped."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.base import StreamChunk
from tollgate.v1 import common_pb2

from .anthropic_helpers import (
    HELLO,
    KEY,
    MODEL,
    START,
    chat_call,
    complete,
    error_of,
    provider_config,
    replying,
    scripted,
    sse,
    stream_chunks,
)
from .harness import free_port, run

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
    provider = replying(200, json.dumps(MESSAGE).encode(), sent)
    completion = run(complete(provider, chat_call(HELLO)))
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
    completion = run(complete(replying(200, json.dumps(message).encode()), chat_call(HELLO)))
    choice = completion.data["choices"][0]
    assert choice["finish_reason"] == finish_reason
    assert choice["message"]["content"] == "x" and "tool_calls" not in choice["message"]


TEXT_STREAM = sse(
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
    chunks = run(stream_chunks(replying(200, TEXT_STREAM), chat_call({**HELLO, "stream": True})))
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

    body = sse(
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
    chunks = run(stream_chunks(replying(200, body), chat_call({**HELLO, "stream": True})))
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
    error = run(error_of(replying(status, body), chat_call(HELLO), stream))
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
    body = sse(
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "error", "error": {"type": kind, "message": "Overloaded"}},
    )
    error = run(error_of(replying(200, body), chat_call(HELLO), stream=True))
    assert (error.http_status, error.code) == expected


def test_a_stream_cut_before_message_stop_is_an_error() -> None:
    body = TEXT_STREAM.split(b"event: message_delta")[0]
    error = run(error_of(replying(200, body), chat_call(HELLO), stream=True))
    assert (error.http_status, error.code) == (502, "upstream_error")


@pytest.mark.parametrize("stream", [False, True])
def test_timeouts_and_unreachable_upstreams(stream: bool) -> None:
    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    error = run(error_of(scripted(timing_out), chat_call(HELLO), stream))
    assert (error.http_status, error.code) == (504, "upstream_timeout")
    provider = AnthropicProvider(provider_config(f"http://127.0.0.1:{free_port()}/v1"))
    error = run(error_of(provider, chat_call(HELLO), stream))
    assert (error.http_status, error.code) == (502, "upstream_unavailable")
