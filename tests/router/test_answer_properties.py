"""Property tests of the Anthropic and Gemini translations back to OpenAI: random
provider answers (text, tool calls, finish reasons, usage), whole or streamed in
random pieces, become the OpenAI answer a client rebuilds, with the usage numbers
unchanged. The requests going out are in test_translation_properties.py."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.router.providers import anthropic, gemini
from services.router.providers.base import usage_from

from .translation_strategies import ARGUMENTS, JSON, NAMES, TEXTS

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COUNTS = st.integers(0, 10**9)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:], strict=False) if text[a:b]]


ANTHROPIC_BLOCKS = st.lists(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, TEXTS),
        st.builds(
            lambda n, name, arguments: {
                "type": "tool_use",
                "id": f"toolu_{n}",
                "name": name,
                "input": arguments,
            },
            st.integers(0, 10**6),
            NAMES,
            ARGUMENTS,
        ),
    ),
    max_size=4,
    unique_by=lambda block: block.get("id", id(block)),
)
ANTHROPIC_USAGE = st.fixed_dictionaries(
    {"input_tokens": COUNTS, "output_tokens": COUNTS},
    optional={"cache_creation_input_tokens": COUNTS, "cache_read_input_tokens": COUNTS},
)


def _check_anthropic_usage(usage: JSON, reported: JSON) -> None:
    cache_read = reported.get("cache_read_input_tokens", 0)
    prompt = reported["input_tokens"] + cache_read + reported.get("cache_creation_input_tokens", 0)
    assert usage["prompt_tokens"] == prompt
    assert usage["completion_tokens"] == reported["output_tokens"]
    assert usage["total_tokens"] == prompt + reported["output_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == cache_read


def _check_anthropic_message(
    message: JSON, finish: str, blocks: list[JSON], stop: str, streamed: bool = False
) -> None:
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    calls = [b for b in blocks if b["type"] == "tool_use"]
    # A stream always carries text (at least ""); a whole message has None for no text.
    assert message["content"] == ("".join(texts) if streamed or texts or not calls else None)
    got = message.get("tool_calls") or []
    assert [(c["id"], c["function"]["name"]) for c in got] == [(b["id"], b["name"]) for b in calls]
    assert [json.loads(c["function"]["arguments"]) for c in got] == [b["input"] for b in calls]
    assert finish == anthropic.FINISH_REASONS[stop]


@SETTINGS
@given(ANTHROPIC_BLOCKS, st.sampled_from(sorted(anthropic.FINISH_REASONS)), ANTHROPIC_USAGE)
def test_anthropic_answers_translate_back_with_their_usage(
    blocks: list[JSON], stop: str, usage: JSON
) -> None:
    data = {"id": "msg_1", "model": "claude-x", "content": blocks, "stop_reason": stop}
    completion, proto = anthropic.openai_completion({**data, "usage": usage}, "claude-x")
    (choice,) = completion["choices"]
    _check_anthropic_message(choice["message"], choice["finish_reason"], blocks, stop)
    _check_anthropic_usage(completion["usage"], usage)
    # OpenAI's usage block has no place for cache writes; the billing record carries them.
    expected = usage_from(completion)
    assert expected is not None
    expected.cache_write_tokens = usage.get("cache_creation_input_tokens", 0)
    assert proto == expected


def _anthropic_stream(blocks: list[JSON], stop: str, usage: JSON, cuts: list[int]) -> list[JSON]:
    start_usage = {**usage, "output_tokens": 1}  # message_start's is a placeholder
    out: list[JSON] = [{"type": "message_start", "message": {"id": "msg_1", "usage": start_usage}}]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            opening: JSON = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in _split(block["text"], cuts)]
        else:
            opening = {**block, "input": {}}
            pieces = _split(json.dumps(block["input"]), cuts)
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        out.append({"type": "content_block_start", "index": index, "content_block": opening})
        out += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": index})
    final = {"output_tokens": usage["output_tokens"]}
    out.append({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": final})
    out.append({"type": "message_stop"})
    return out


def _assemble(chunks: list[JSON]) -> tuple[JSON, str | None]:
    """The message and finish reason a client rebuilds from streamed chunks (one choice)."""
    texts: list[str] = []
    calls: dict[int, JSON] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            texts.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"function": {"arguments": ""}})
                entry["id"] = call.get("id") or entry.get("id")
                function = call.get("function") or {}
                entry["function"]["name"] = function.get("name") or entry["function"].get("name")
                entry["function"]["arguments"] += function.get("arguments") or ""
            finish = choice["finish_reason"] or finish
    message: JSON = {"content": "".join(texts)}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish


@SETTINGS
@given(
    ANTHROPIC_BLOCKS,
    st.sampled_from(sorted(anthropic.FINISH_REASONS)),
    ANTHROPIC_USAGE,
    st.lists(st.integers(0, 100), max_size=5),
)
def test_anthropic_streams_translate_back_with_the_last_usage(
    blocks: list[JSON], stop: str, usage: JSON, cuts: list[int]
) -> None:
    translator = anthropic.StreamTranslator("claude-x")
    chunks = [c for e in _anthropic_stream(blocks, stop, usage, cuts) for c in translator.feed(e)]
    assert translator.stopped
    *body, last = chunks
    assert last["choices"] == [] and all("usage" not in c for c in body)
    _check_anthropic_usage(last["usage"], usage)
    message, finish = _assemble(body)
    assert finish is not None
    _check_anthropic_message(message, finish, blocks, stop, streamed=True)


GEMINI_PARTS = st.lists(
    st.one_of(
        st.builds(lambda t: {"text": t}, TEXTS.filter(bool)),
        st.builds(lambda n, a: {"functionCall": {"name": n, "args": a}}, NAMES, ARGUMENTS),
    ),
    max_size=4,
)
GEMINI_FINISH = st.sampled_from(sorted(gemini.FINISH_REASONS) + ["OTHER"])
GEMINI_USAGE = st.fixed_dictionaries(
    {"promptTokenCount": COUNTS, "candidatesTokenCount": COUNTS},
    optional={"thoughtsTokenCount": COUNTS, "cachedContentTokenCount": COUNTS},
)


def _check_gemini_usage(usage: JSON, reported: JSON) -> None:
    thoughts = reported.get("thoughtsTokenCount", 0)
    completion = reported["candidatesTokenCount"] + thoughts
    assert usage["prompt_tokens"] == reported["promptTokenCount"]
    assert usage["completion_tokens"] == completion
    assert usage["total_tokens"] == reported["promptTokenCount"] + completion
    assert usage["completion_tokens_details"]["reasoning_tokens"] == thoughts
    cached = reported.get("cachedContentTokenCount", 0)
    assert usage["prompt_tokens_details"]["cached_tokens"] == cached


def _check_gemini_message(
    message: JSON, finish: str, parts: list[JSON], reason: str, streamed: bool = False
) -> None:
    texts = [p["text"] for p in parts if "text" in p]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert message["content"] == ("".join(texts) if streamed else "".join(texts) or None)
    got = message.get("tool_calls") or []
    assert [c["function"]["name"] for c in got] == [c["name"] for c in calls]
    assert [json.loads(c["function"]["arguments"]) for c in got] == [c["args"] for c in calls]
    assert len({c["id"] for c in got}) == len(got)  # Gemini has no ids: each gets its own
    assert finish == ("tool_calls" if calls else gemini.FINISH_REASONS.get(reason, "stop"))


@SETTINGS
@given(st.lists(st.tuples(GEMINI_PARTS, GEMINI_FINISH), min_size=1, max_size=3), GEMINI_USAGE)
def test_gemini_answers_translate_back_with_their_usage(
    candidates: list[tuple[list[JSON], str]], usage: JSON
) -> None:
    data = {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": reason, "index": i}
            for i, (parts, reason) in enumerate(candidates)
        ],
        "usageMetadata": usage,
    }
    completion = gemini.completion_body(data, "gemini-x")
    assert len(completion["choices"]) == len(candidates)
    for choice, (parts, reason) in zip(completion["choices"], candidates, strict=True):
        _check_gemini_message(choice["message"], choice["finish_reason"], parts, reason)
    _check_gemini_usage(completion["usage"], usage)
    proto = usage_from(completion)
    assert proto is not None and proto.prompt_tokens == usage["promptTokenCount"]


@SETTINGS
@given(GEMINI_PARTS, GEMINI_FINISH, GEMINI_USAGE, st.lists(st.integers(0, 100), max_size=5))
def test_gemini_streams_translate_back_with_the_last_usage(
    parts: list[JSON], reason: str, usage: JSON, cuts: list[int]
) -> None:
    pieces: list[JSON] = []
    for part in parts:
        texts = _split(part["text"], cuts) if "text" in part else []
        pieces += [{"text": t} for t in texts] if texts else [part]
    partial = {"promptTokenCount": usage["promptTokenCount"]}
    events: list[JSON] = [
        {
            "candidates": [{"content": {"role": "model", "parts": [p]}, "index": 0}],
            "usageMetadata": partial,
        }
        for p in pieces
    ]
    final = {"content": {"role": "model", "parts": []}, "finishReason": reason, "index": 0}
    events.append({"candidates": [final], "usageMetadata": usage})
    translator = gemini.StreamTranslator("gemini-x")
    chunks = [chunk for event in events for chunk in translator.chunks(event)]
    assert translator.complete
    message, finish = _assemble(chunks)
    assert finish is not None
    _check_gemini_message(message, finish, parts, reason, streamed=True)
    last = translator.usage_chunk()
    assert last is not None and last["choices"] == []
    _check_gemini_usage(last["usage"], usage)
