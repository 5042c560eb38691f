"""A cached answer replayed as a stream is a stream the OpenAI SDK parses into the
same answer; a finished stream folds back into the response it stands for."""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from services.router.cache.assemble import assemble
from services.router.cache.replay import PIECE_CHARS, as_chunks, as_response, fresh
from tollgate.v1 import common_pb2

USAGE = {"prompt_tokens": 11, "completion_tokens": 40, "total_tokens": 51}
LONG = "The answer is four. " * 10


def completion(**message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "demo",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "logprobs": None,
                "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
            }
        ],
        "usage": USAGE,
    }


TOOL_CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
    },
    {"id": "call_2", "type": "function", "function": {"name": "log", "arguments": "{}"}},
]


def test_a_replayed_stream_is_valid_chunks_that_spell_the_answer() -> None:
    data = completion(content=LONG)
    chunks = as_chunks(data, include_usage=True)
    parsed = [ChatCompletionChunk.model_validate_json(c) for c in chunks]
    assert parsed[0].choices[0].delta.role == "assistant"
    content = [p.choices[0].delta.content for p in parsed if p.choices]
    assert len([c for c in content if c]) == -(-len(LONG) // PIECE_CHARS)  # several pieces
    assert "".join(c or "" for c in content) == LONG
    assert [p.choices[0].finish_reason for p in parsed if p.choices][-1] == "stop"
    assert parsed[-1].choices == [] and parsed[-1].usage is not None
    assert parsed[-1].usage.total_tokens == 51
    assert {p.id for p in parsed} == {"chatcmpl-1"}
    assert json.loads(assemble(chunks, common_pb2.Usage()) or b"") == data


def test_without_include_usage_no_usage_chunk_is_sent() -> None:
    chunks = as_chunks(completion(content="four"), include_usage=False)
    assert all(ChatCompletionChunk.model_validate_json(c).choices for c in chunks)
    assert all("usage" not in json.loads(c) for c in chunks)


def test_tool_calls_replay_and_fold_back() -> None:
    data = completion(content=None, tool_calls=TOOL_CALLS)
    chunks = as_chunks(data, include_usage=True)
    for chunk in chunks:
        ChatCompletionChunk.model_validate_json(chunk)
    assert json.loads(assemble(chunks, common_pb2.Usage()) or b"") == data


def test_an_unfinished_stream_is_not_an_answer() -> None:
    chunks = as_chunks(completion(content="four"), include_usage=False)
    assert assemble(chunks[:-1], common_pb2.Usage()) is None
    assert assemble([], common_pb2.Usage()) is None


def test_a_stream_without_usage_takes_the_recorded_usage() -> None:
    chunks = as_chunks(completion(content="four"), include_usage=False)
    usage = common_pb2.Usage(prompt_tokens=5, completion_tokens=1)
    folded = json.loads(assemble(chunks, usage) or b"")
    assert folded["usage"] == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}


def test_a_fresh_answer_keeps_the_content_under_a_new_id() -> None:
    data = completion(content="four")
    again = fresh(json.dumps(data).encode())
    assert again["id"] != data["id"] and again["created"] > 1
    assert again["choices"] == data["choices"] and again["usage"] == USAGE
    ChatCompletion.model_validate_json(as_response(again))
