"""The Anthropic-format front door's replies (OpenAI completions and chunk streams to
Messages API responses and events), as pure functions: golden cases, streams the
anthropic SDK's own accumulator builds into the right message, and error types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from services.gateway.anthropic_reply import (
    StreamTranslator,
    error_body,
    error_type,
    message,
    message_id,
    sse,
    usage_from_openai,
)
from services.gateway.errors import ApiError
from services.router.providers.demo import model as demo

FALLBACK = {
    "input_tokens": 1,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 2,
}
EVENTS = TypeAdapter(RawMessageStreamEvent)


def test_a_completion_with_text_and_a_tool_call_translates() -> None:
    completion = {
        "id": "chatcmpl-1",
        "model": "served-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Calling.",
                    "tool_calls": [
                        {
                            "id": "call_9",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q":1}'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }
    reply = message(completion, msg_id="msg_1", model="asked", stops=[], fallback_usage=FALLBACK)
    assert reply == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "served-model",
        "content": [
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "call_9", "name": "lookup", "input": {"q": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 10,
            "output_tokens": 7,
        },
    }
    Message.model_validate(reply)  # the SDK's own model of a response accepts it


@pytest.mark.parametrize(
    ("finish", "matched", "reason", "sequence"),
    [
        ("stop", None, "end_turn", None),
        ("length", None, "max_tokens", None),
        ("tool_calls", None, "tool_use", None),
        ("content_filter", None, "refusal", None),
        ("stop", "END", "stop_sequence", "END"),  # vLLM names the matched stop string
        ("stop", "OTHER", "end_turn", None),
        (None, None, "end_turn", None),
    ],
)
def test_stop_reasons(
    finish: str | None, matched: str | None, reason: str, sequence: str | None
) -> None:
    completion = {
        "choices": [{"finish_reason": finish, "stop_reason": matched, "message": {"content": "x"}}]
    }
    reply = message(completion, msg_id="m", model="asked", stops=["END"], fallback_usage=FALLBACK)
    assert (reply["stop_reason"], reply["stop_sequence"]) == (reason, sequence)
    assert reply["model"] == "asked" and reply["usage"] == FALLBACK


def _accumulate(events: list[dict[str, Any]]) -> Any:
    snapshot = None
    bufs: dict[int, bytes] = {}
    for event in events:
        if event["type"] == "ping":
            continue  # the SDK drops pings before it parses events
        snapshot = accumulate_event(
            event=EVENTS.validate_python(event), current_snapshot=snapshot, json_bufs=bufs
        )
    return snapshot


def _translate(
    chunks: list[dict[str, Any]], stops: list[str] | None = None
) -> list[dict[str, Any]]:
    translator = StreamTranslator("msg_x", stops or [])
    events = translator.start("served", 11)
    for chunk in chunks:
        events += translator.chunk(json.loads(demo.dumps(chunk)))
    return events + translator.finish(FALLBACK)


def test_a_text_stream_becomes_the_messages_event_sequence() -> None:
    body = {"messages": [{"role": "user", "content": "stream me"}]}
    chunks = demo.chunks(body, "served", include_usage=True)
    events = _translate(chunks)
    kinds = [e["type"] for e in events]
    deltas = len(chunks) - 3  # less the role chunk, the finish chunk and the usage chunk
    assert kinds == (
        ["message_start", "ping", "content_block_start"]
        + ["content_block_delta"] * deltas
        + ["content_block_stop", "message_delta", "message_stop"]
    )
    reply = demo.reply_for(body)
    final = _accumulate(events)
    assert final.content[0].text == reply.content
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (
        reply.prompt_tokens,
        reply.completion_tokens,
    )
    assert events[0]["message"]["usage"]["input_tokens"] == 11  # the estimate, until the end


def test_a_tool_call_stream_becomes_tool_use_blocks() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return chunk({"tool_calls": [{"index": index, **fields}]})

    chunks = [
        chunk({"role": "assistant", "content": "Let me look."}),
        call(0, id="call_a", function={"name": "first", "arguments": ""}),
        call(0, function={"arguments": '{"a":'}),
        call(0, function={"arguments": " 1}"}),
        call(1, id="call_b", function={"name": "second", "arguments": "{}"}),
        chunk({}, "tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]
    events = _translate(chunks)
    assert [(e["type"], e.get("index")) for e in events] == [
        ("message_start", None),
        ("ping", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    final = _accumulate(events)
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert (final.content[1].id, final.content[1].name, final.content[1].input) == (
        "call_a",
        "first",
        {"a": 1},
    )
    assert (final.content[2].id, final.content[2].input) == ("call_b", {})
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 4)


def test_a_stream_without_usage_reports_the_fallback() -> None:
    chunks = [{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "length"}]}]
    events = _translate(chunks)
    assert events[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": FALLBACK,
    }


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=20))
def test_any_split_of_text_accumulates_to_the_whole(pieces: list[str]) -> None:
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    final = _accumulate(_translate(chunks))
    assert final.content[0].text == "".join(pieces)


def test_sse_names_each_event() -> None:
    assert sse({"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_types_follow_the_status(status: int, kind: str) -> None:
    assert error_type(status) == kind
    body = error_body(ApiError(status, "why"), "req_1")
    assert body == {
        "type": "error",
        "error": {"type": kind, "message": "why"},
        "request_id": "req_1",
    }


def test_ids_and_usage_helpers() -> None:
    assert message_id("req_abc") == "msg_abc"
    assert usage_from_openai(None) is None
    assert usage_from_openai({"prompt_tokens": 3, "completion_tokens": 2}) == {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 2,
    }
