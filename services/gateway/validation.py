"""Checks of a chat completion request body, with OpenAI-style 400s naming the field.

Only what tollgate reasons about is checked; every other field passes through to
the upstream untouched (the body is forwarded byte for byte)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.gateway.errors import ApiError, bad_request

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ChatParams:
    model: str
    messages: list[dict[str, Any]]
    tools: list[Any] | None
    stream: bool
    include_usage: bool
    max_tokens: int  # 0: not set, the model's output cap applies
    n: int
    user: str


def parse_json(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"Request body is larger than {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        raise bad_request("The request body is empty; send a JSON object.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _optional_int(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer.", param=name)
    if value < minimum:
        raise bad_request(f"'{name}' must be at least {minimum}.", param=name)
    return value


def _check_message(i: int, message: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise bad_request(f"'{where}' must be an object.", param=where)
    role = message.get("role")
    if role not in ROLES:
        raise bad_request(
            f"'{where}.role' must be one of {', '.join(sorted(ROLES))}; got {role!r}.",
            param=f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        if role == "assistant":  # an assistant turn may hold only tool calls
            return
        raise bad_request(f"'{where}.content' is required.", param=f"{where}.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(
            f"'{where}.content' must be a string or a list of content parts.",
            param=f"{where}.content",
        )
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise bad_request(
                f"'{where}.content[{j}]' must be an object with a 'type'.",
                param=f"{where}.content[{j}]",
            )


def chat_params(body: dict[str, Any]) -> ChatParams:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required and must be a non-empty string.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list.", param="messages")
    for i, message in enumerate(messages):
        _check_message(i, message)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", param="stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object.", param="stream_options")
        include_usage = options.get("include_usage", False) is True
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise bad_request("'tools' must be a list.", param="tools")
    user = body.get("user", "")
    if user is None:
        user = ""
    if not isinstance(user, str):
        raise bad_request("'user' must be a string.", param="user")
    max_completion_tokens = _optional_int(body, "max_completion_tokens", 1)
    max_tokens = max_completion_tokens or _optional_int(body, "max_tokens", 1)
    return ChatParams(
        model=model,
        messages=messages,
        tools=tools,
        stream=stream,
        include_usage=stream and include_usage,
        max_tokens=max_tokens or 0,
        n=_optional_int(body, "n", 1) or 1,
        user=user,
    )
