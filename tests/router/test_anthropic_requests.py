"""The Anthropic provider's request translation: an OpenAI chat body becomes an
Anthropic Messages request, or a 400 naming the field it cannot carry."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.router.providers.anthropic import anthropic_request
from services.router.providers.base import UpstreamError

from .anthropic_helpers import HELLO, MODEL, TOOL, chat_call, error_of, scripted
from .harness import run


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

    provider = scripted(handler)
    error = run(error_of(provider, chat_call({**HELLO, "n": 3}), stream=False))
    assert (error.http_status, error.param) == (400, "n") and "n must be 1" in error.message
    assert not sent
