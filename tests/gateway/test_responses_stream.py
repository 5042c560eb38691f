"""The Responses API stream translator: chat completion chunks in, Responses events out,
checked by the openai SDK's own stream accumulator (what `client.responses.stream`
runs), for text, tool calls, both, a cut-off answer and a failure mid-stream."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from services.gateway.responses.reply import Shell
from services.gateway.responses.request import Options
from services.gateway.responses.stream import StreamTranslator, sse

EVENT = TypeAdapter(ResponseStreamEvent)
BODY: dict[str, Any] = {"model": "m", "input": "x"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def translator() -> StreamTranslator:
    return StreamTranslator(Shell("resp_abc", "abc", Options.of(BODY), BODY, created_at=1))


def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": "m-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        data["usage"] = usage
    return data


def run(chunks: list[dict[str, Any]], fallback: dict[str, Any] | None = None) -> list[Any]:
    t = translator()
    events = t.start("m-1")
    for data in chunks:
        events += t.chunk(data)
    events += t.finish(fallback or {})
    return events


def accumulate(events: list[dict[str, Any]]) -> Any:
    """The SDK's final response for the events, each parsed from its SSE bytes."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=omit)
    for event in events:
        line = sse(event).decode()
        name, data = line.split("\n")[0], line.split("\n")[1]
        assert name == f"event: {event['type']}"
        state.handle_event(EVENT.validate_python(json.loads(data.removeprefix("data: "))))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return state._completed_response


def test_text_streams_into_one_message_with_the_upstream_usage() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
            {"choices": [], "usage": USAGE},
        ]
    )
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = accumulate(events)
    assert final.output_text == "Hello" and final.status == "completed"
    assert final.output[0].id == "msg_abc"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 4)


def test_text_then_two_tool_calls_stream_as_three_items() -> None:
    events = run(
        [
            chunk({"content": "Calling."}),
            chunk({"tool_calls": [{"index": 0, "id": "call_a",
                                   "function": {"name": "f", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "call_b",
                                   "function": {"name": "g", "arguments": "{}"}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            chunk({}, "tool_calls", USAGE),
        ]
    )  # fmt: skip
    final = accumulate(events)
    message, first, second = final.output
    assert message.type == "message" and final.output_text == "Calling."
    assert (first.call_id, first.name, first.arguments, first.id) == (
        "call_a",
        "f",
        '{"x":1}',
        "fc_abc_0",
    )
    assert (second.call_id, second.name, second.arguments) == ("call_b", "g", "{}")
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"x":', "{}", "1}"]


def test_a_cut_off_stream_is_incomplete_and_takes_the_fallback_usage() -> None:
    fallback = {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 1,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 4,
    }
    t = translator()
    events = t.start("m-1") + t.chunk(chunk({"content": "a"}, "length")) + t.finish(fallback)
    assert events[-1]["type"] == "response.incomplete"
    snapshot = events[-1]["response"]
    assert snapshot["usage"] == fallback
    assert snapshot["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_failure_mid_stream_is_an_error_then_response_failed() -> None:
    t = translator()
    events = t.start("m-1") + t.chunk(chunk({"content": "a"})) + t.fail("boom", "upstream_error")
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["message"] == "boom"
    assert events[-1]["response"]["status"] == "failed"
    for event in events:
        EVENT.validate_python(event)


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=20))
def test_any_text_split_into_chunks_streams_back_whole(pieces: list[str]) -> None:
    final = accumulate(run([chunk({"content": p}) for p in pieces] + [chunk({}, "stop", USAGE)]))
    assert final.output_text == "".join(pieces)
