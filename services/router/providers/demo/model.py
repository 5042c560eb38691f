"""The demo model: a deterministic OpenAI-style reply to any chat request.

The router's built-in demo provider and the mock upstreams (tollgate_mocks) all answer
from here, so a call through any of them gives the same content and the same usage. Usage is
exact: prompt tokens are counted as OpenAI counts a chat prompt, completion tokens
are the tokens of what was sent.

A request that asks for structure gets it: a forced tool call (`tool_choice` naming a
function, or "required") carries arguments that validate against the function's
parameters, and a `response_format` of `json_schema` gets JSON content that validates
against the schema (`json_object`: a JSON object holding the echo). The values come from
schema_sample.py, seeded from the prompt and the schema, so the same request gets the
same answer.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from services.router.providers.demo.schema_sample import sample
from tollgate.config import DEMO_MODEL
from tollgate.tokens import count_chat_prompt, count_text, split_tokens, truncate_to_tokens

REPLY_PREFIX = "Hello from tollgate's demo model. You said: "
EMPTY_REPLY = "Hello from tollgate's demo model. Send a message and I will echo it back."
ECHO_LIMIT = 200
COUNTING_MODEL = DEMO_MODEL  # usage is counted with the demo model's tokenizer, whatever the name

JSON = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    content: str | None
    tool_call: ToolCall | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    def usage(self) -> JSON:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _function_of(tool: Any) -> JSON:
    function = tool.get("function") if isinstance(tool, dict) else None
    return function if isinstance(function, dict) else {}


def _forced_function(body: JSON) -> tuple[str, Any] | None:
    """The function the request forces a call to, if it forces one: (its name, its
    parameters' schema)."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = _function_of(choice).get("name")
    elif choice == "required":
        name = _function_of(tools[0]).get("name")
    else:
        return None
    if not isinstance(name, str) or not name:
        return None
    named = [_function_of(t) for t in tools if _function_of(t).get("name") == name]
    return name, named[0].get("parameters") if named else None


def _seed(messages: list[Any], schema: Any) -> int:
    """The seed of a structured answer: a function of the prompt and the schema."""
    text = json.dumps([messages, schema], sort_keys=True, default=str, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "replace")).digest()[:8], "big")


def _arguments(messages: list[Any], schema: Any) -> str:
    """A forced call's arguments: a JSON object that the parameters' schema accepts."""
    value = sample(schema, _seed(messages, schema)) if isinstance(schema, dict) else {}
    return dumps_text(value if isinstance(value, dict) else {})


def _structured_content(body: JSON, messages: list[Any], echo: str) -> str | None:
    """The JSON content that `response_format` asks for, or None for plain text."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return dumps_text({"reply": echo})
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict | bool):
        return dumps_text({"reply": echo})
    return dumps_text(sample(schema, _seed(messages, schema)))


def _max_tokens(body: JSON) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def reply_for(body: JSON) -> Reply:
    """What the demo model answers to a chat completion request body."""
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    tools = body.get("tools")
    tools = tools if isinstance(tools, list) else None
    prompt_tokens = count_chat_prompt(messages, COUNTING_MODEL, tools)

    forced = _forced_function(body)
    if forced is not None:
        name, parameters = forced
        arguments = _arguments(messages, parameters)
        call = ToolCall(id="call_" + uuid.uuid4().hex[:24], name=name, arguments=arguments)
        completion = count_text(call.name, COUNTING_MODEL) + count_text(
            call.arguments, COUNTING_MODEL
        )
        return Reply(None, call, "tool_calls", prompt_tokens, completion)

    said = last_user_text(messages)[:ECHO_LIMIT]
    text = REPLY_PREFIX + said if said.strip() else EMPTY_REPLY
    text = _structured_content(body, messages, text) or text
    finish_reason = "stop"
    limit = _max_tokens(body)
    if limit is not None and count_text(text, COUNTING_MODEL) > limit:
        text = truncate_to_tokens(text, COUNTING_MODEL, limit)
        finish_reason = "length"
    return Reply(text, None, finish_reason, prompt_tokens, count_text(text, COUNTING_MODEL))


def _new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def completion(body: JSON, model: str) -> JSON:
    """The whole non-streaming response (an OpenAI `chat.completion` object)."""
    reply = reply_for(body)
    message: JSON = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_call is not None:
        message["tool_calls"] = [
            {
                "id": reply.tool_call.id,
                "type": "function",
                "function": {"name": reply.tool_call.name, "arguments": reply.tool_call.arguments},
            }
        ]
    return {
        "id": _new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        ],
        "usage": reply.usage(),
        "system_fingerprint": None,
    }


def chunks(body: JSON, model: str, *, include_usage: bool) -> list[JSON]:
    """The streaming response as `chat.completion.chunk` objects, in order."""
    reply = reply_for(body)
    base: JSON = {
        "id": _new_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }

    def chunk(delta: JSON, finish_reason: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if reply.tool_call is not None:
        call = reply.tool_call
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        out.extend(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in split_tokens(call.arguments, COUNTING_MODEL)
        )
    else:
        out.extend(
            chunk({"content": piece}) for piece in split_tokens(reply.content or "", COUNTING_MODEL)
        )
    out.append(chunk({}, reply.finish_reason))
    if include_usage:
        out.append({**base, "choices": [], "usage": reply.usage()})
    return out


def dumps_text(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def dumps(data: JSON) -> bytes:
    return dumps_text(data).encode()
