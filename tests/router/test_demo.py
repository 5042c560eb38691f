"""The demo model: deterministic, exact usage, same answer streamed or not."""

from __future__ import annotations

import json
from typing import Any

from services.router.providers.demo import model as demo
from tollgate.tokens import count_chat_prompt, count_text

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


def _streamed(chunks: list[dict[str, Any]]) -> tuple[str, str | None, dict[str, Any] | None]:
    content, finish, usage = "", None, None
    for chunk in chunks:
        for choice in chunk["choices"]:
            content += choice["delta"].get("content") or ""
            finish = choice["finish_reason"] or finish
        usage = chunk.get("usage") or usage
    return content, finish, usage


def test_reply_echoes_the_last_user_message_with_exact_usage() -> None:
    body = {"model": "demo", "messages": MESSAGES}
    response = demo.completion(body, "demo")
    message = response["choices"][0]["message"]
    assert response["object"] == "chat.completion"
    assert response["id"].startswith("chatcmpl-")
    assert message["content"] == demo.REPLY_PREFIX + "What is the capital of France?"
    assert response["choices"][0]["finish_reason"] == "stop"
    usage = response["usage"]
    assert usage["prompt_tokens"] == count_chat_prompt(MESSAGES, "demo")
    assert usage["completion_tokens"] == count_text(message["content"], "demo")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}


def test_streaming_and_non_streaming_agree() -> None:
    body = {"model": "demo", "messages": MESSAGES}
    response = demo.completion(body, "m")
    chunks = demo.chunks(body, "m", include_usage=True)
    content, finish, usage = _streamed(chunks)
    assert content == response["choices"][0]["message"]["content"]
    assert finish == "stop"
    assert usage is not None and usage == response["usage"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    # One chunk per token between the role chunk and the finish chunk.
    assert len(chunks) == 1 + usage["completion_tokens"] + 1 + 1


def test_usage_chunk_only_when_asked() -> None:
    chunks = demo.chunks({"messages": MESSAGES}, "demo", include_usage=False)
    assert all("usage" not in chunk and chunk["choices"] for chunk in chunks)


def test_max_tokens_truncates_with_finish_reason_length() -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        body = {"messages": MESSAGES, key: 4}
        response = demo.completion(body, "demo")
        assert response["choices"][0]["finish_reason"] == "length"
        assert response["usage"]["completion_tokens"] == 4
        content = response["choices"][0]["message"]["content"]
        assert count_text(content, "demo") == 4
        assert (demo.REPLY_PREFIX + "What").startswith(content)
        streamed, finish, usage = _streamed(demo.chunks(body, "demo", include_usage=True))
        assert (streamed, finish, usage) == (content, "length", response["usage"])


def test_a_large_max_tokens_changes_nothing() -> None:
    response = demo.completion({"messages": MESSAGES, "max_tokens": 1000}, "demo")
    assert response["choices"][0]["finish_reason"] == "stop"


def test_empty_message_gets_the_fixed_sentence() -> None:
    for messages in ([], [{"role": "user", "content": None}], [{"role": "user", "content": " "}]):
        response = demo.completion({"messages": messages}, "demo")
        assert response["choices"][0]["message"]["content"] == demo.EMPTY_REPLY


def test_content_parts_and_long_messages() -> None:
    parts = [{"type": "text", "text": "x" * 150}, {"type": "text", "text": "y" * 150}]
    response = demo.completion({"messages": [{"role": "user", "content": parts}]}, "demo")
    said = response["choices"][0]["message"]["content"].removeprefix(demo.REPLY_PREFIX)
    assert said == ("x" * 150 + " " + "y" * 150)[: demo.ECHO_LIMIT]


def test_required_tool_choice_calls_the_first_function() -> None:
    body = {"messages": MESSAGES, "tools": TOOLS, "tool_choice": "required"}
    response = demo.completion(body, "demo")
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    arguments = call["function"]["arguments"]
    assert list(json.loads(arguments)) == ["city"]  # the parameters' one property
    assert isinstance(json.loads(arguments)["city"], str)
    usage = response["usage"]
    assert usage["prompt_tokens"] == count_chat_prompt(MESSAGES, "demo", TOOLS)
    assert usage["completion_tokens"] == count_text("get_weather", "demo") + count_text(
        arguments, "demo"
    )


def test_named_tool_choice_streams_one_tool_call() -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    body = {"messages": MESSAGES, "tools": TOOLS, "tool_choice": choice}
    chunks = demo.chunks(body, "demo", include_usage=True)
    name, arguments, finish = "", "", None
    for chunk in chunks:
        for c in chunk["choices"]:
            for call in c["delta"].get("tool_calls") or []:
                name += call["function"].get("name") or ""
                arguments += call["function"].get("arguments") or ""
            finish = c["finish_reason"] or finish
    assert (name, arguments, finish) == ("get_time", "{}", "tool_calls")
    assert chunks[-1]["usage"] == demo.completion(body, "demo")["usage"]


def test_auto_tool_choice_answers_in_text() -> None:
    response = demo.completion({"messages": MESSAGES, "tools": TOOLS}, "demo")
    assert response["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in response["choices"][0]["message"]
