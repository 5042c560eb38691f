"""Prompt caching through tollgate to Anthropic: `cache_control` on OpenAI content
parts, tools, tool calls and messages (LiteLLM's and OpenRouter's convention) reaches
Anthropic's request on the matching blocks, an Anthropic-format request keeps its marks
through the front door and back, and the mock bills cache writes then reads."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.anthropic_format import openai_request
from services.router.providers.anthropic_request import anthropic_request
from services.router.providers.base import UpstreamError
from services.router.providers.demo import model as demo
from tollgate_mocks.prompt_cache import CacheUse, PromptCache

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}
LONG_SYSTEM = "You are a careful assistant. " * 20


def test_marked_parts_tools_and_calls_reach_anthropic() -> None:
    body: dict[str, Any] = {
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": LONG_SYSTEM, "cache_control": HOUR},
                    {"type": "text", "text": "Be brief."},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look this up.", "cache_control": EPHEMERAL},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/a.png"},
                        "cache_control": EPHEMERAL,
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": "{}"},
                        "cache_control": EPHEMERAL,
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [{"type": "text", "text": "found", "cache_control": EPHEMERAL}],
            },
        ],
        "tools": [{**TOOL, "cache_control": EPHEMERAL}],
    }
    request = anthropic_request(body, "claude-x", stream=False)
    assert request["system"] == [
        {"type": "text", "text": LONG_SYSTEM, "cache_control": HOUR},
        {"type": "text", "text": "Be brief."},
    ]
    user, assistant, tool_turn = request["messages"]
    assert [b.get("cache_control") for b in user["content"]] == [EPHEMERAL, EPHEMERAL]
    assert assistant["content"][0]["cache_control"] == EPHEMERAL
    assert tool_turn["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": "found",
        "cache_control": EPHEMERAL,
    }
    assert request["tools"][0]["cache_control"] == EPHEMERAL


def test_a_message_level_mark_goes_on_its_last_block() -> None:
    body = {
        "messages": [
            {"role": "system", "content": LONG_SYSTEM, "cache_control": EPHEMERAL},
            {"role": "user", "content": "Hello", "cache_control": EPHEMERAL},
        ]
    }
    request = anthropic_request(body, "claude-x", stream=False)
    assert request["system"] == [{"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL}]
    assert request["messages"][0]["content"] == [
        {"type": "text", "text": "Hello", "cache_control": EPHEMERAL}
    ]


def test_without_marks_the_request_is_as_before() -> None:
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "A"}]},
            {"role": "system", "content": "B"},
            {"role": "user", "content": "Hi"},
        ],
        "tools": [TOOL],
    }
    request = anthropic_request(body, "claude-x", stream=False)
    assert request["system"] == "A\n\nB"
    assert "cache_control" not in str(request)


def test_a_mark_that_is_not_an_object_is_a_400() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": "yes"}]}
        ]
    }
    with pytest.raises(UpstreamError) as error:
        anthropic_request(body, "claude-x", stream=False)
    assert error.value.http_status == 400 and "cache_control" in error.value.message


def test_an_anthropic_request_keeps_its_marks_through_the_front_door_and_back() -> None:
    """The Messages API request a client sends, translated to OpenAI's format by the
    gateway and back to Anthropic's by the router, has its cache_control where it was."""
    sent: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": 100,
        "system": [{"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL}],
        "tools": [
            {
                "name": "lookup",
                "input_schema": {"type": "object", "properties": {}},
                "cache_control": HOUR,
            }
        ],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Find it.", "cache_control": EPHEMERAL}],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking.", "cache_control": EPHEMERAL},
                    {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "here",
                        "cache_control": EPHEMERAL,
                    }
                ],
            },
        ],
    }
    back = anthropic_request(openai_request(sent), "claude-x", stream=False)
    assert back["system"] == sent["system"]
    assert back["tools"][0]["cache_control"] == HOUR
    user, assistant, result = back["messages"]
    assert user["content"] == sent["messages"][0]["content"]
    assert assistant["content"][0] == {
        "type": "text",
        "text": "Looking.",
        "cache_control": EPHEMERAL,
    }
    assert "cache_control" not in assistant["content"][1]
    assert result["content"][0]["cache_control"] == EPHEMERAL


# --- the mock's prompt cache ---------------------------------------------------------------


def _body(question: str, *, marked: bool = True) -> dict[str, Any]:
    system: dict[str, Any] = {"type": "text", "text": LONG_SYSTEM}
    if marked:
        system["cache_control"] = EPHEMERAL
    return {
        "model": "claude-x",
        "system": [system],
        "messages": [{"role": "user", "content": question}],
    }


def test_the_mock_writes_a_prefix_first_and_reads_it_on_a_repeat() -> None:
    cache = PromptCache()
    prompt = demo.reply_for({"messages": [{"role": "user", "content": "q"}]}).prompt_tokens + 200
    first = cache.use(_body("What is 1+1?"), prompt)
    assert first.read == 0 and first.written > 100  # the long system prompt
    again = cache.use(_body("And 2+2?"), prompt)  # same prefix, another question
    assert again == CacheUse(read=first.written, written=0)
    assert cache.use(_body("What?", marked=False), prompt) == CacheUse()  # no marks, no cache


def test_the_mock_writes_only_what_follows_the_longest_cached_prefix() -> None:
    cache = PromptCache()
    short = _body("q")
    first = cache.use(short, 10_000)
    longer = _body("q")
    longer["messages"][0] = {
        "role": "user",
        "content": [{"type": "text", "text": "More context. " * 10, "cache_control": EPHEMERAL}],
    }
    second = cache.use(longer, 10_000)
    assert second.read == first.written and second.written > 0


def test_the_mock_caches_nothing_below_its_minimum() -> None:
    assert PromptCache(min_tokens=10_000).use(_body("q"), 10_000) == CacheUse()
