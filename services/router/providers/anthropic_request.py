"""An OpenAI chat completion body as an Anthropic Messages request (see anthropic.py)."""

from __future__ import annotations

import json
from typing import Any

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    UpstreamError,
)

DEFAULT_MAX_TOKENS = 4096
MAX_TEMPERATURE = 1  # OpenAI allows up to 2; Anthropic refuses above 1


def _invalid(message: str, param: str = "messages") -> UpstreamError:
    return UpstreamError(400, INVALID_REQUEST, "", message, param)


def dumps(data: JSON) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# --- prompt caching: `cache_control` as LiteLLM and OpenRouter carry it ---------------------
# An OpenAI content part, tool, tool call or message may hold Anthropic's `cache_control`
# object; it goes on the Anthropic block it becomes (a message's on its last block).


def _cache_control(item: Any, param: str) -> JSON | None:
    control = item.get("cache_control") if isinstance(item, dict) else None
    if control is None:
        return None
    if not isinstance(control, dict):
        raise _invalid('cache_control must be an object, e.g. {"type": "ephemeral"}.', param)
    return control


def _cached(block: JSON, source: Any, param: str = "messages") -> JSON:
    """`block` with the `cache_control` of the OpenAI item it came from, if any."""
    control = _cache_control(source, param)
    return block if control is None else {**block, "cache_control": control}


# --- request: OpenAI -> Anthropic ---------------------------------------------------------


def _text_of(content: Any) -> str:
    """The text of a string content or of the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _image_block(part: JSON) -> JSON:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise _invalid("An image_url part needs a url.")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise _invalid("An image data: URL must be base64 encoded with a media type.")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise _invalid("An image URL must be a data: URL or an http(s) URL.")


def _content_blocks(content: Any) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _invalid("Message content must be a string or a list of parts.")
    blocks: list[JSON] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append(_cached({"type": "text", "text": part["text"]}, part))
        elif kind == "image_url":
            blocks.append(_cached(_image_block(part), part))
        else:
            raise _invalid(f"Content parts of type {kind!r} are not supported by this model.")
    return blocks


def _tool_use_blocks(tool_calls: Any) -> list[JSON]:
    if not isinstance(tool_calls, list):
        return []
    blocks: list[JSON] = []
    for call in tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise _invalid("Each tool call needs a function.")
        arguments = function.get("arguments") or "{}"
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            raise _invalid("Tool call arguments must be JSON.") from None
        block = {
            "type": "tool_use",
            "id": call.get("id"),
            "name": function.get("name"),
            "input": parsed if isinstance(parsed, dict) else {},
        }
        blocks.append(_cached(block, call))
    return blocks


def _system_blocks(message: JSON) -> list[JSON]:
    """A system message as text blocks, keeping each part's `cache_control`."""
    content = message.get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    blocks = [
        _cached({"type": "text", "text": part["text"]}, part)
        for part in (parts if isinstance(parts, list) else [])
        if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]
    ]
    return _cached_last(blocks, message)


def _cached_last(blocks: list[JSON], message: JSON) -> list[JSON]:
    """A message-level `cache_control` (LiteLLM's form) marks its last block."""
    if blocks and _cache_control(message, "messages") is not None:
        blocks[-1] = _cached(blocks[-1], message)
    return blocks


def _tool_result_control(message: JSON) -> JSON | None:
    content = message.get("content")
    for part in reversed(content) if isinstance(content, list) else []:
        if (control := _cache_control(part, "messages")) is not None:
            return control
    return _cache_control(message, "messages")


def _messages(messages: Any) -> tuple[str | list[JSON], list[JSON]]:
    """The system prompt (joined text, or text blocks when any part is marked for
    caching) and the turns, consecutive turns of one role merged."""
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list.")
    system: list[str] = []
    system_blocks: list[JSON] = []
    turns: list[JSON] = []
    for message in messages:
        if not isinstance(message, dict):
            raise _invalid("Each message must be an object.")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(_text_of(content))
            system_blocks.extend(_system_blocks(message))
            continue
        if role == "user":
            blocks = _cached_last(_content_blocks(content), message)
        elif role == "assistant":
            blocks = _content_blocks(content) + _tool_use_blocks(message.get("tool_calls"))
            blocks = _cached_last(blocks, message)
        elif role == "tool":
            role = "user"
            result = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
            result["content"] = _text_of(content)
            control = _tool_result_control(message)
            blocks = [result if control is None else {**result, "cache_control": control}]
        else:
            raise _invalid(f"Messages with role {role!r} are not supported by this model.")
        if not blocks:
            continue  # Anthropic refuses empty turns; an empty message says nothing
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise _invalid("The messages have no content to send.")
    if any("cache_control" in block for block in system_blocks):
        return system_blocks, turns
    return "\n\n".join(s for s in system if s), turns


def _tools(tools: Any) -> list[JSON]:
    out: list[JSON] = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise _invalid("Each tool must be a function with a name.", "tools")
        entry: JSON = {"name": function["name"]}
        if function.get("description"):
            entry["description"] = function["description"]
        entry["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        out.append(_cached(entry, tool, "tools"))
    return out


def _tool_choice(choice: Any) -> JSON | None:
    """Anthropic's tool_choice; None for "none" (the tools are then left out)."""
    if choice is None or choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    raise _invalid("tool_choice must be auto, required, none or a named function.", "tool_choice")


def _max_tokens(body: JSON) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def anthropic_request(body: JSON, model: str, *, stream: bool) -> JSON:
    """The Messages API request for an OpenAI chat completion body."""
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise _invalid("This model returns one choice per request: n must be 1.", "n")
    system, turns = _messages(body.get("messages"))
    request: JSON = {"model": model, "max_tokens": _max_tokens(body), "messages": turns}
    if system:
        request["system"] = system
    tools = _tools(body.get("tools"))
    choice = _tool_choice(body.get("tool_choice"))
    if tools and choice is not None:
        if body.get("parallel_tool_calls") is False:
            choice["disable_parallel_tool_use"] = True
        request["tools"] = tools
        request["tool_choice"] = choice
    stop = body.get("stop")
    if isinstance(stop, str):
        request["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        request["stop_sequences"] = stop
    for key in ("temperature", "top_p"):
        if isinstance(body.get(key), int | float):
            request[key] = body[key]
    if request.get("temperature", 0) > MAX_TEMPERATURE:
        raise _invalid(
            f"temperature must be at most {MAX_TEMPERATURE} for this model.", "temperature"
        )
    if isinstance(body.get("user"), str) and body["user"]:
        request["metadata"] = {"user_id": body["user"]}
    if stream:
        request["stream"] = True
    return request


# --- response: Anthropic -> OpenAI --------------------------------------------------------
