"""The Responses API's routes as services/gateway/openapi.py describes them, with the
project key: create (a body close to what request.py accepts, open to fields that
pass through), and a stored response's read, delete and input items."""

from __future__ import annotations

from typing import Any

from services.gateway.openapi_schemas import ANY_OBJECT, JSON, obj, ref

PUBLIC: list[JSON] = [{"projectKey": []}, {"projectApiKey": []}]
TEXT: JSON = {"type": "string"}


def _operation(summary: str, **extra: Any) -> JSON:
    failure = {"description": "an error", "content": {"application/json": {"schema": ref("Error")}}}
    return {
        "summary": summary,
        "security": PUBLIC,
        "responses": {
            "200": {
                "description": "success",
                "content": {"application/json": {"schema": ANY_OBJECT}},
            },
            "4XX": failure,
            "5XX": failure,
        },
        **extra,
    }


def _request() -> JSON:
    part = obj(
        {
            "type": {"enum": ["input_text", "output_text", "input_image", "refusal"]},
            "text": TEXT,
            "image_url": TEXT,
        },
        ("type",),
    )
    item = obj(
        {
            "type": {"enum": ["message", "function_call", "function_call_output", "reasoning"]},
            "role": {"enum": ["user", "system", "developer", "assistant"]},
            "content": {"anyOf": [TEXT, {"type": "array", "items": part}]},
            "call_id": TEXT,
            "name": TEXT,
            "arguments": TEXT,
            "output": TEXT,
        }
    )
    tool = obj(
        {
            "type": {"const": "function"},
            "name": {"type": "string", "minLength": 1},
            "description": TEXT,
            "parameters": ANY_OBJECT,
            "strict": {"type": "boolean"},
        },
        ("type", "name"),
    )
    return obj(
        {
            "model": {"anyOf": [{"enum": ["demo"]}, {"type": "string", "minLength": 1}]},
            "input": {"anyOf": [TEXT, {"type": "array", "minItems": 1, "items": item}]},
            "instructions": TEXT,
            "previous_response_id": {"type": "string", "minLength": 1},
            "store": {"type": "boolean"},
            "stream": {"type": "boolean"},
            "max_output_tokens": {"type": "integer", "minimum": 1},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "user": TEXT,
            "metadata": {"type": "object", "additionalProperties": TEXT},
            "tools": {"type": "array", "items": tool},
            "tool_choice": {"anyOf": [{"enum": ["none", "auto", "required"]}, ANY_OBJECT]},
            "parallel_tool_calls": {"type": "boolean"},
            "text": obj({"format": ANY_OBJECT, "verbosity": {"enum": ["low", "medium", "high"]}}),
            "reasoning": obj({"effort": {"enum": ["minimal", "low", "medium", "high"]}}),
        },
        ("model", "input"),
    )


def responses_paths() -> JSON:
    response_id = {"name": "response_id", "in": "path", "required": True, "schema": TEXT}
    body = {"required": True, "content": {"application/json": {"schema": _request()}}}
    listing = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
        },
        {"name": "order", "in": "query", "schema": {"enum": ["asc", "desc"]}},
        {"name": "after", "in": "query", "schema": TEXT},
    ]
    return {
        "/v1/responses": {
            "post": _operation(
                "OpenAI Responses API (stream: true answers its events); docs/responses.md",
                requestBody=body,
            )
        },
        "/v1/responses/{response_id}": {
            "get": _operation("a stored response of this key's project", parameters=[response_id]),
            "delete": _operation("forget a stored response", parameters=[response_id]),
        },
        "/v1/responses/{response_id}/input_items": {
            "get": _operation(
                "the conversation a stored response answered",
                parameters=[response_id, *listing],
            )
        },
    }
