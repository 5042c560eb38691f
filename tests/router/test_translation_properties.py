"""Property tests of the Anthropic and Gemini request translations.

Random valid OpenAI requests either translate keeping everything the provider
supports (every text in order, system text in the system field, tools with their
schemas, tool calls and results matched, images, stop sequences, limits and sampling
settings), or fail with a 400 for exactly the features it lacks. The answers going
back are in test_answer_properties.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from services.router.providers.anthropic_request import (
    DEFAULT_MAX_TOKENS,
    MAX_TEMPERATURE,
    anthropic_request,
)
from services.router.providers.base import UpstreamError
from services.router.providers.gemini_request import request_body

from .translation_strategies import (
    JSON,
    Event,
    chat_requests,
    events,
    system_texts,
    unsupported_parts,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _refused(translate: Any, body: JSON) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        translate(body)
    error = caught.value
    assert (error.http_status, error.type) == (400, "invalid_request_error") and error.message
    return error


def _limit(body: JSON) -> int | None:
    return body.get("max_completion_tokens", body.get("max_tokens"))


def _stop(body: JSON) -> list[str] | None:
    stop = body.get("stop")
    return [stop] if isinstance(stop, str) else stop


def _declared(body: JSON) -> list[JSON]:
    return [t["function"] for t in body.get("tools") or []]


# --- OpenAI -> Anthropic ----------------------------------------------------------------------


def _anthropic_events(request: JSON) -> list[Event]:
    out: list[Event] = []
    for turn in request["messages"]:
        role = turn["role"]
        for block in turn["content"]:
            kind = block["type"]
            if kind == "text":
                out.append((role, "text", block["text"]))
            elif kind == "image":
                source = block["source"]
                url = source.get("url") or f"data:{source['media_type']};base64,{source['data']}"
                out.append((role, "image", url))
            elif kind == "tool_use":
                out.append((role, "call", block["id"], block["name"], block["input"]))
            else:
                assert kind == "tool_result"
                out.append((role, "result", block["tool_use_id"], block["content"]))
    return out


@SETTINGS
@given(chat_requests())
def test_anthropic_requests_keep_what_anthropic_supports(body: JSON) -> None:
    before = json.dumps(body)
    lacking = {
        "n": body.get("n", 1) > 1,
        "messages": bool(unsupported_parts(body)) or not events(body),
        "temperature": body.get("temperature", 0) > MAX_TEMPERATURE,
    }

    def translate(body: JSON) -> JSON:
        return anthropic_request(body, "claude-x", stream=bool(body.get("stream")))

    if any(lacking.values()):
        assert _refused(translate, body).param in {k for k, v in lacking.items() if v}
        return
    request = translate(body)
    assert json.dumps(body) == before  # the client's body is left alone
    assert request["model"] == "claude-x"
    assert request.get("system") == ("\n\n".join(system_texts(body)) or None)
    assert _anthropic_events(request) == events(body)
    roles = [turn["role"] for turn in request["messages"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False))  # turns alternate
    assert all(turn["content"] for turn in request["messages"])

    choice = body.get("tool_choice", "auto")
    if body.get("tools") and choice != "none":
        assert request["tools"] == [
            {
                "name": f["name"],
                **({"description": f["description"]} if "description" in f else {}),
                "input_schema": f.get("parameters") or {"type": "object", "properties": {}},
            }
            for f in _declared(body)
        ]
        expected: JSON = (
            {"type": "tool", "name": choice["function"]["name"]}
            if isinstance(choice, dict)
            else {"type": {"auto": "auto", "required": "any"}[choice]}
        )
        if body.get("parallel_tool_calls") is False:
            expected["disable_parallel_tool_use"] = True
        assert request["tool_choice"] == expected
    else:
        assert "tools" not in request and "tool_choice" not in request
    assert request.get("stop_sequences") == _stop(body)
    assert request["max_tokens"] == (_limit(body) or DEFAULT_MAX_TOKENS)
    for key in ("temperature", "top_p"):
        assert request.get(key) == body.get(key)
    assert request.get("metadata") == ({"user_id": body["user"]} if "user" in body else None)
    assert request.get("stream") == (True if body.get("stream") else None)


# --- OpenAI -> Gemini -------------------------------------------------------------------------


def _gemini_events(request: JSON) -> list[Event]:
    out: list[Event] = []
    for content in request["contents"]:
        role = {"model": "assistant", "user": "user"}[content["role"]]
        for part in content["parts"]:
            if "text" in part:
                out.append((role, "text", part["text"]))
            elif "inlineData" in part:
                data = part["inlineData"]
                if data["mimeType"].startswith("audio/"):
                    out.append((role, "audio", data["mimeType"], data["data"]))
                else:
                    out.append((role, "image", f"data:{data['mimeType']};base64,{data['data']}"))
            elif "fileData" in part:
                out.append((role, "image", part["fileData"]["fileUri"]))
            elif "functionCall" in part:
                call = part["functionCall"]
                out.append((role, "call", call["name"], call["args"]))
            else:
                response = part["functionResponse"]
                out.append((role, "result", response["name"], response["response"]["result"]))
    return out


def _named(expected: list[Event]) -> list[Event]:
    """The events as Gemini keeps them: calls and results by function name, not id."""
    names: dict[str, str] = {}
    out: list[Event] = []
    for event in expected:
        if event[1] == "call":
            role, _, call_id, name, arguments = event
            names[call_id] = name
            out.append((role, "call", name, arguments))
        elif event[1] == "result":
            role, _, call_id, text = event
            out.append((role, "result", names[call_id], text))
        else:
            out.append(event)
    return out


@SETTINGS
@given(chat_requests())
def test_gemini_requests_keep_what_gemini_supports(body: JSON) -> None:
    if "file" in unsupported_parts(body) or not events(body):
        assert _refused(request_body, body).param == "messages"
        return
    request = request_body(body)
    system = request.get("systemInstruction", {}).get("parts", [])
    assert [part["text"] for part in system] == system_texts(body)
    assert _gemini_events(request) == _named(events(body))
    roles = [content["role"] for content in request["contents"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False))

    if body.get("tools"):
        (tools,) = request["tools"]
        assert tools["functionDeclarations"] == [
            {
                "name": f["name"],
                **({"description": f["description"]} if "description" in f else {}),
                **({"parametersJsonSchema": f["parameters"]} if "parameters" in f else {}),
            }
            for f in _declared(body)
        ]
        choice = body.get("tool_choice")
        config = request.get("toolConfig", {}).get("functionCallingConfig")
        if isinstance(choice, dict):
            assert config == {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
        else:
            modes = {None: None, "auto": {"mode": "AUTO"}, "required": {"mode": "ANY"}}
            assert config == {**modes, "none": {"mode": "NONE"}}[choice]
    else:
        assert "tools" not in request and "toolConfig" not in request
    generation = request.get("generationConfig", {})
    assert generation.get("stopSequences") == _stop(body)
    assert generation.get("maxOutputTokens") == _limit(body)
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
    ):
        assert generation.get(theirs) == body.get(ours)
