"""The Gemini provider's translation, as plain functions: an OpenAI chat body becomes
a generateContent request, and Gemini's answer becomes an OpenAI chat completion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.router.providers.base import UpstreamError
from services.router.providers.gemini import completion_body, request_body

from .gemini_helpers import EXPECTED_USAGE, MODEL, USAGE, WEATHER_TOOL

# ---- request translation ------------------------------------------------------------


def test_request_translation() -> None:
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.webp?s=1"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/photo"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_a", "content": [{"type": "text", "text": "4C"}]},
            {"role": "assistant", "content": "4C in Oslo."},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "max_completion_tokens": 100,
        "stop": "END",
        "n": 2,
        "logit_bias": {"1": 2},
        "user": "u-1",
        "stream_options": {"include_usage": True},
    }
    original = json.dumps(body)
    assert request_body(body) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather here?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
                    {
                        "fileData": {
                            "fileUri": "https://x.test/a.webp?s=1",
                            "mimeType": "image/webp",
                        }
                    },
                    {"fileData": {"fileUri": "https://x.test/photo", "mimeType": "image/jpeg"}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                    {"functionCall": {"name": "get_time", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "4C"}}},
                ],
            },
            {"role": "model", "parts": [{"text": "4C in Oslo."}]},
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "The weather in a city.",
                        "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
                    }
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 100,
            "stopSequences": ["END"],
            "candidateCount": 2,
        },
    }
    assert json.dumps(body) == original  # the client's body is not mutated


@pytest.mark.parametrize(
    ("choice", "mode"), [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")]
)
def test_tool_choice_modes(choice: str, mode: str) -> None:
    out = request_body({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL]})
    assert "toolConfig" not in out
    out = request_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": choice,
        }
    )
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_json_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = request_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": schema},
            },
        }
    )
    assert out["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "tool_call_id": "call_x", "content": "orphan"}],
        [{"role": "user", "content": [{"type": "file", "file": {}}]}],
        [{"role": "robot", "content": "x"}],
        [],
    ],
)
def test_untranslatable_requests_are_client_errors(messages: list[Any]) -> None:
    with pytest.raises(UpstreamError) as caught:
        request_body({"messages": messages})
    assert (caught.value.http_status, caught.value.type) == (400, "invalid_request_error")


# ---- response translation -----------------------------------------------------------


def test_response_translation() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Thinking about it", "thought": True},
                        {"text": "Let me "},
                        {"text": "check."},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            },
            {
                "content": {"role": "model", "parts": [{"text": "Too long"}]},
                "finishReason": "MAX_TOKENS",
                "index": 1,
            },
        ],
        "usageMetadata": USAGE,
        "modelVersion": MODEL,
    }
    out = completion_body(data, MODEL)
    assert out["object"] == "chat.completion" and out["model"] == MODEL
    first, second = out["choices"]
    call = first["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and len(call["id"]) > 10
    assert first == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": "Let me check.",
            "refusal": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert second["message"]["content"] == "Too long" and second["finish_reason"] == "length"
    assert out["usage"] == EXPECTED_USAGE


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("OTHER", "stop")],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    candidate = {"content": {"parts": [{"text": "x"}]}, "finishReason": reason}
    assert completion_body({"candidates": [candidate]}, MODEL)["choices"][0]["finish_reason"] == (
        expected
    )


def test_blocked_prompt_is_a_content_filter_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        completion_body(
            {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": USAGE}, MODEL
        )
    assert (caught.value.http_status, caught.value.code) == (400, "content_filter")
