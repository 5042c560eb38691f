"""The schemas of the gateway's OpenAPI description (`openapi.py`): request bodies
close to what the handlers accept, and the two error formats.

The chat body stays open (`additionalProperties` allowed), since fields the gateway
does not know pass through to OpenAI-compatible upstreams; `model` lists the
built-in demo models beside any string, so a client (or a fuzzer) can reach a model
that exists."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

DEMO_CHAT_MODEL = "demo"
DEMO_EMBEDDING_MODEL = "demo-embedding"


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _model(example: str) -> JSON:
    """Any configured model name; the built-in demo model is listed so a client
    (or a fuzzer) can reach a model that exists."""
    return {"anyOf": [{"enum": [example]}, {"type": "string", "minLength": 1}]}


def obj(properties: JSON, required: tuple[str, ...] = (), *, closed: bool = False) -> JSON:
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


ANY_OBJECT: JSON = {"type": "object"}
DECIMAL: JSON = {
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,9})?$"},
        {"type": "integer", "minimum": 0},
    ]
}
DAY: JSON = {"type": "string", "format": "date"}
MONTH: JSON = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"}
PERIOD: JSON = {"enum": ["daily", "monthly", "total"]}
CURRENCY: JSON = {"enum": ["CNY", "USD"]}
POSITIVE_INT: JSON = {"type": "integer", "minimum": 1}
REPORT_BY: JSON = {"type": "string", "examples": ["project,key,model,user,day"]}


def components() -> JSON:
    text_part = obj(
        {"type": {"const": "text"}, "text": {"type": "string"}}, ("type", "text"), closed=True
    )
    image_part = obj(
        {
            "type": {"const": "image_url"},
            "image_url": obj({"url": {"type": "string"}}, ("url",)),
        },
        ("type", "image_url"),
    )
    function = obj(
        {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "parameters": ANY_OBJECT,
        },
        ("name",),
    )
    text_block = obj({"type": {"const": "text"}, "text": {"type": "string"}}, ("type", "text"))
    tool_use = obj(
        {
            "type": {"const": "tool_use"},
            "id": {"type": "string", "minLength": 1},
            "name": {"type": "string", "minLength": 1},
            "input": ANY_OBJECT,
        },
        ("type", "id", "name"),
    )
    tool_result = obj(
        {
            "type": {"const": "tool_result"},
            "tool_use_id": {"type": "string", "minLength": 1},
            "content": {"type": "string"},
        },
        ("type", "tool_use_id"),
    )
    # Users send text and tool results, the assistant's turns hold text and tool calls.
    anthropic_turns = [
        obj(
            {
                "role": {"const": role},
                "content": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"anyOf": [text_block, block]}},
                    ]
                },
            },
            ("role", "content"),
        )
        for role, block in (("user", tool_result), ("assistant", tool_use))
    ]
    return {
        "Error": obj(
            {
                "error": obj(
                    {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "param": {"type": ["string", "null"]},
                        "code": {"type": ["string", "null"]},
                    },
                    ("message", "type", "param", "code"),
                )
            },
            ("error",),
        ),
        "AnthropicError": obj(
            {
                "type": {"const": "error"},
                "error": obj(
                    {"type": {"type": "string"}, "message": {"type": "string"}},
                    ("type", "message"),
                ),
                "request_id": {"type": "string"},
            },
            ("type", "error"),
        ),
        "ChatMessage": obj(
            {
                "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
                "content": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"anyOf": [text_part, image_part]}},
                    ]
                },
                "name": {"type": "string"},
                "tool_call_id": {"type": "string"},
            },
            ("role", "content"),
        ),
        "ChatCompletionRequest": obj(
            {
                "model": _model(DEMO_CHAT_MODEL),
                "messages": {"type": "array", "minItems": 1, "items": ref("ChatMessage")},
                "max_tokens": POSITIVE_INT,
                "max_completion_tokens": POSITIVE_INT,
                "n": POSITIVE_INT,
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "stream": {"type": "boolean"},
                "stream_options": obj({"include_usage": {"type": "boolean"}}),
                "user": {"type": "string"},
                "stop": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
                "seed": {"type": "integer"},
                "tools": {
                    "type": "array",
                    "items": obj(
                        {"type": {"const": "function"}, "function": function}, ("type", "function")
                    ),
                },
                "tool_choice": {"anyOf": [{"enum": ["none", "auto", "required"]}, ANY_OBJECT]},
            },
            ("model", "messages"),
        ),
        "CompletionRequest": obj(
            {
                "model": _model(DEMO_CHAT_MODEL),
                "prompt": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    ]
                },
                "max_tokens": POSITIVE_INT,
                "n": POSITIVE_INT,
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "echo": {"type": "boolean"},
                "stream": {"type": "boolean"},
                "stream_options": obj({"include_usage": {"type": "boolean"}}),
                "user": {"type": "string"},
                "stop": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
                "seed": {"type": "integer"},
            },
            ("model", "prompt"),
        ),
        "EmbeddingRequest": obj(
            {
                "model": _model(DEMO_EMBEDDING_MODEL),
                "input": {
                    "anyOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 2048,
                            "items": {"type": "string", "minLength": 1},
                        },
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "integer", "minimum": 0},
                        },
                    ]
                },
                "encoding_format": {"enum": ["float", "base64"]},
                "dimensions": POSITIVE_INT,
                "user": {"type": "string"},
            },
            ("model", "input"),
        ),
        "AnthropicMessagesRequest": obj(
            {
                "model": _model(DEMO_CHAT_MODEL),
                "max_tokens": POSITIVE_INT,
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"anyOf": anthropic_turns},
                },
                "system": {"type": "string"},
                "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "top_k": {"type": "integer", "minimum": 0},
                "stop_sequences": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "stream": {"type": "boolean"},
                "metadata": obj({"user_id": {"type": "string"}}),
                "tools": {
                    "type": "array",
                    "items": obj(
                        {
                            "name": {"type": "string", "minLength": 1},
                            "description": {"type": "string"},
                            "input_schema": ANY_OBJECT,
                        },
                        ("name", "input_schema"),
                    ),
                },
                "tool_choice": obj(
                    {"type": {"enum": ["auto", "any", "tool", "none"]}, "name": {"type": "string"}},
                    ("type",),
                ),
            },
            ("model", "max_tokens", "messages"),
        ),
    }
