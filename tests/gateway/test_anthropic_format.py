"""The Anthropic-format front door's request translation (Messages API to an OpenAI chat
body), as pure functions: golden cases, and bad input as 400s naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.anthropic_format import openai_request
from services.gateway.errors import ApiError

IMAGE_DATA = "iVBORw0KGgo="


def test_a_full_request_translates_to_the_openai_body() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_DATA},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "é"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Here:"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
                ],
            },
        ],
        "tools": [
            {
                "name": "lookup",
                "description": "Looks up.",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "alice"},
        "stream": True,
    }
    assert openai_request(body) == {
        "model": "claude-x",
        "max_tokens": 300,
        "messages": [
            {"role": "system", "content": "Be brief.\n\nBe kind."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{IMAGE_DATA}"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "é"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "42"},
            {"role": "user", "content": [{"type": "text", "text": "Here:"}]},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                    "description": "Looks up.",
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": False,
        "stop": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "alice",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_tool_results_with_images_and_plain_strings_translate() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": "Plain.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "shot"}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "c1",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "a"},
                            {"type": "text", "text": "b"},
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "http://x.test/s.png"},
                            },
                        ],
                    }
                ],
            },
        ],
    }
    assert openai_request(body)["messages"] == [
        {"role": "system", "content": "Plain."},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a\nb"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "http://x.test/s.png"}}],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none")],
)
def test_tool_choices(choice: dict[str, Any], expected: str) -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}}
    body = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
    out = openai_request({**body, "tools": [tool], "tool_choice": choice})
    assert out["tool_choice"] == expected and "parallel_tool_calls" not in out


def test_counting_needs_no_max_tokens_and_never_streams() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    assert openai_request(body, for_counting=True) == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
    }


GOOD: dict[str, Any] = {
    "model": "m",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "x"}],
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def _turn(*blocks: dict[str, Any], role: str = "user") -> list[dict[str, Any]]:
    return [{"role": role, "content": list(blocks)}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": GOOD["messages"]}, "max_tokens"),
        (_with(max_tokens=0), "max_tokens"),
        (_with(max_tokens="10"), "max_tokens"),
        (_with(model=""), "model"),
        (_with(messages=[]), "messages"),
        (_with(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (_with(messages=[{"role": "user"}]), "messages.0.content"),
        (_with(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
        (_with(messages=_turn({"type": "document", "source": {}})), "messages.0.content.0"),
        (_with(messages=_turn({"text": "no type"})), "messages.0.content.0"),
        (
            _with(messages=_turn({"type": "image", "source": {"type": "file", "file_id": "f"}})),
            "messages.0.content.0.source.type",
        ),
        (
            _with(
                messages=_turn(
                    {"type": "tool_use", "id": "t", "name": "n", "input": []}, role="assistant"
                )
            ),
            "messages.0.content.0.input",
        ),
        (_with(messages=_turn({"type": "tool_result"})), "messages.0.content.0.tool_use_id"),
        (_with(system=[{"type": "image"}]), "system.0"),
        (_with(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools.0.type"),
        (_with(tools=[{"name": "t"}]), "tools.0.input_schema"),
        (
            _with(tools=[{"name": "t", "input_schema": {}}], tool_choice={"type": "some"}),
            "tool_choice.type",
        ),
        (_with(stop_sequences="END"), "stop_sequences"),
        (_with(temperature=1.5), "temperature"),
        (_with(top_k="many"), "top_k"),
        (_with(stream="yes"), "stream"),
        (_with(metadata={"user_id": 7}), "metadata.user_id"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as info:
        openai_request(body)
    assert (info.value.status, info.value.param) == (400, param)
    assert info.value.message.startswith(param + ":")


# --- prompt caching: cache_control rides on the OpenAI item each block becomes ---------------

MARK = {"type": "ephemeral"}


def test_cache_control_is_carried_onto_the_openai_parts_and_tools() -> None:
    body: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": 10,
        "system": [
            {"type": "text", "text": "Long rules.", "cache_control": MARK},
            {"type": "text", "text": "More."},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": MARK}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Doc", "cache_control": MARK},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://x.test/a.png"},
                        "cache_control": MARK,
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Calling.", "cache_control": MARK},
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "f",
                        "input": {},
                        "cache_control": MARK,
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "ok",
                        "cache_control": MARK,
                    }
                ],
            },
        ],
    }
    out = openai_request(body)
    system, user, assistant, tool = out["messages"]
    assert system == {
        "role": "system",
        "content": [
            {"type": "text", "text": "Long rules.", "cache_control": MARK},
            {"type": "text", "text": "More."},
        ],
    }
    assert [p["cache_control"] for p in user["content"]] == [MARK, MARK]
    assert assistant["content"] == [{"type": "text", "text": "Calling.", "cache_control": MARK}]
    assert assistant["tool_calls"][0]["cache_control"] == MARK
    assert tool == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": [{"type": "text", "text": "ok", "cache_control": MARK}],
    }
    assert out["tools"][0]["cache_control"] == MARK


def test_without_cache_control_system_and_assistant_text_stay_strings() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Yo"}]},
        ],
    }
    out = openai_request(body)
    assert out["messages"][0] == {"role": "system", "content": "A\n\nB"}
    assert out["messages"][2] == {"role": "assistant", "content": "Yo"}


def test_a_cache_control_that_is_not_an_object_is_a_400() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": 1}]}
        ],
    }
    with pytest.raises(ApiError) as error:
        openai_request(body)
    assert error.value.status == 400 and error.value.param == "messages.0.content.0.cache_control"
