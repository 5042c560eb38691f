"""An Anthropic Messages API request as an OpenAI chat completion body (pure functions).

The /v1/messages front door runs every call through the OpenAI-format path the
router speaks, so any configured model serves Anthropic-SDK clients. What translates:
`system` (a string or text blocks) becomes a system message; text and image blocks
(base64 and url sources) become text and image_url parts; assistant `tool_use` blocks
become `tool_calls` and user `tool_result` blocks `tool` messages (images in a tool
result follow in a user message, as OpenAI tool messages hold text only); `tools`,
`tool_choice` (auto, any, tool, none; `disable_parallel_tool_use`), `stop_sequences`,
`temperature`, `top_p`, `max_tokens`, `stream` and `metadata.user_id` (the end user).

`cache_control` (prompt caching) rides along as a `cache_control` field of the OpenAI
item a block becomes: a text or image part, a tool, a tool call, or the last text part
of a tool message; system and assistant text then stay lists of parts. This is the
convention LiteLLM and OpenRouter use: the Anthropic provider turns it back into
Anthropic's `cache_control`. For a model no Anthropic provider serves the marks are
removed (`without_cache_control`): strict OpenAI-compatible servers refuse unknown
fields with a 400.

Dropped, because no OpenAI-format upstream takes them: `top_k`, `thinking`,
`service_tier`, the `is_error` flag of a tool result, and thinking
blocks of earlier assistant turns. Refused with a 400: document blocks, server tools
(a tool with a `type` other than "custom") and any block type not listed above."""

from __future__ import annotations

import json
from typing import Any

from services.gateway.errors import ApiError, bad_request
from services.gateway.validation import MAX_TOKENS, text

JSON = dict[str, Any]
ROLES = ("user", "assistant")
DROPPED_ASSISTANT_BLOCKS = frozenset({"thinking", "redacted_thinking"})
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _bad(message: str, param: str) -> ApiError:
    return bad_request(f"{param}: {message}", param=param)


def _cached(item: JSON, block: JSON, param: str) -> JSON:
    """`item` with the `cache_control` of the block it came from, if it has one."""
    control = block.get("cache_control")
    if control is None:
        return item
    if not isinstance(control, dict):
        raise _bad('must be an object, e.g. {"type": "ephemeral"}', f"{param}.cache_control")
    return {**item, "cache_control": control}


def _system(value: Any) -> str | list[JSON]:
    """The system message's content: the joined text, or text parts when a block is
    marked for caching."""
    texts = _text_blocks(value, "system")
    if not isinstance(value, list) or not any("cache_control" in b for b in value):
        return "\n\n".join(texts)
    return [
        _cached({"type": "text", "text": block["text"]}, block, f"system.{i}")
        for i, block in enumerate(value)
    ]


def _text_blocks(value: Any, param: str) -> list[str]:
    """The texts of a string or of a list of text blocks (`system`, tool results)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise _bad("must be a string or a list of text blocks", param)
    texts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad("must be a text block", f"{param}.{i}")
        if not isinstance(block.get("text"), str):
            raise _bad("'text' must be a string", f"{param}.{i}.text")
        texts.append(block["text"])
    return texts


def _image_part(block: JSON, param: str) -> JSON:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _bad("an image needs a 'source' object", f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not media_type.startswith("image/"):
            raise _bad("must be an image media type", f"{param}.source.media_type")
        if not isinstance(data, str) or not data:
            raise _bad("must be base64 image data", f"{param}.source.data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        given = source.get("url")
        if not isinstance(given, str) or not given.startswith(("http://", "https://")):
            raise _bad("must be an http(s) URL", f"{param}.source.url")
        url = given
    else:
        raise _bad("must be 'base64' or 'url'", f"{param}.source.type")
    return {"type": "image_url", "image_url": {"url": url}}


def _blocks(content: Any, param: str) -> list[JSON]:
    """A message's content as a list of blocks, each an object with a string type."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _bad("must be a string or a list of content blocks", param)
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _bad("must be an object with a 'type'", f"{param}.{i}")
    return content


def _unsupported(kind: str, param: str) -> ApiError:
    return _bad(f"content blocks of type {kind!r} are not supported here", param)


def _tool_result(block: JSON, param: str) -> tuple[JSON, list[JSON]]:
    """The tool message for a tool_result block, and the images it carried."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad("must be a non-empty string", f"{param}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    images: list[JSON] = []
    marked: JSON = _cached({}, block, param)  # the tool_result's cache_control, if any
    if isinstance(content, str):
        texts.append(content)
    elif content is not None:
        for j, part in enumerate(_blocks(content, f"{param}.content")):
            where = f"{param}.content.{j}"
            if part["type"] == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
                marked = _cached({}, part, where) or marked
            elif part["type"] == "image":
                images.append(_cached(_image_part(part, where), part, where))
            else:
                raise _unsupported(part["type"], where)
    text = "\n".join(texts)
    # OpenAI tool messages hold text parts too: a marked result is one marked part.
    result: str | list[JSON] = [{"type": "text", "text": text, **marked}] if marked else text
    return {"role": "tool", "tool_call_id": call_id, "content": result}, images


def _user_messages(content: Any, param: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[JSON] = []
    parts: list[JSON] = []
    for i, block in enumerate(_blocks(content, param)):
        where = f"{param}.{i}"
        kind = block["type"]
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise _bad("'text' must be a string", f"{where}.text")
            parts.append(_cached({"type": "text", "text": block["text"]}, block, where))
        elif kind == "image":
            parts.append(_cached(_image_part(block, where), block, where))
        elif kind == "tool_result":
            message, images = _tool_result(block, where)
            tool_messages.append(message)
            parts.extend(images)
        else:
            raise _unsupported(kind, where)
    # OpenAI wants tool messages right after the assistant turn that called the tools.
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _tool_call(block: JSON, param: str) -> JSON:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        raise _bad("must be a non-empty string", f"{param}.id")
    if not isinstance(name, str) or not name:
        raise _bad("must be a non-empty string", f"{param}.name")
    if not isinstance(arguments, dict):
        raise _bad("must be an object", f"{param}.input")
    function = {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}
    return _cached({"id": call_id, "type": "function", "function": function}, block, param)


def _assistant_message(content: Any, param: str) -> JSON:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[JSON] = []
    calls: list[JSON] = []
    for i, block in enumerate(_blocks(content, param)):
        where = f"{param}.{i}"
        kind = block["type"]
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise _bad("'text' must be a string", f"{where}.text")
            texts.append(_cached({"type": "text", "text": block["text"]}, block, where))
        elif kind == "tool_use":
            calls.append(_tool_call(block, where))
        elif kind not in DROPPED_ASSISTANT_BLOCKS:
            raise _unsupported(kind, where)
    text: str | list[JSON] | None = "".join(t["text"] for t in texts)
    if any("cache_control" in t for t in texts):
        text = texts  # keep the parts, so the mark stays on its block
    message: JSON = {"role": "assistant", "content": text if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _messages(messages: Any) -> list[JSON]:
    if not isinstance(messages, list) or not messages:
        raise _bad("must be a non-empty list of messages", "messages")
    out: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise _bad("must be an object with 'role' and 'content'", where)
        role = message.get("role")
        if role not in ROLES:
            raise _bad(f"must be 'user' or 'assistant', not {role!r}", f"{where}.role")
        if "content" not in message:
            raise _bad("is required", f"{where}.content")
        if role == "user":
            out.extend(_user_messages(message["content"], f"{where}.content"))
        else:
            out.append(_assistant_message(message["content"], f"{where}.content"))
    return out


def _tools(tools: Any) -> list[JSON]:
    if not isinstance(tools, list):
        raise _bad("must be a list of tools", "tools")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools.{i}"
        if not isinstance(tool, dict):
            raise _bad("must be an object", where)
        if tool.get("type") not in (None, "custom"):
            raise _bad(f"server tools ({tool['type']!r}) are not supported here", f"{where}.type")
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise _bad("must be a non-empty string", f"{where}.name")
        if not isinstance(schema, dict):
            raise _bad("must be a JSON schema object", f"{where}.input_schema")
        function: JSON = {"name": name, "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        out.append(_cached({"type": "function", "function": function}, tool, where))
    return out


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """OpenAI's tool_choice, and whether parallel tool calls are disabled."""
    if not isinstance(choice, dict):
        raise _bad("must be an object with a 'type'", "tool_choice")
    kind = choice.get("type")
    parallel_off = choice.get("disable_parallel_tool_use") is True
    if isinstance(kind, str) and kind in TOOL_CHOICES:
        return TOOL_CHOICES[kind], parallel_off
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("must name the tool", "tool_choice.name")
        return {"type": "function", "function": {"name": name}}, parallel_off
    raise _bad("must be 'auto', 'any', 'tool' or 'none'", "tool_choice.type")


def _number(body: JSON, name: str, low: float, high: float | None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad("must be a number", name)
    if value < low or (high is not None and value > high):
        raise _bad(f"must be between {low} and {high}" if high else f"must be >= {low}", name)
    return value


def _max_tokens(body: JSON) -> int:
    value = body.get("max_tokens")
    if value is None:
        raise _bad("Field required", "max_tokens")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS:
        raise _bad(f"must be an integer from 1 to {MAX_TOKENS}", "max_tokens")
    return value


def _stop_sequences(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise _bad("must be a list of non-empty strings", "stop_sequences")
    return value


def _user(metadata: Any) -> str:
    if metadata is None:
        return ""
    if not isinstance(metadata, dict):
        raise _bad("must be an object", "metadata")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise _bad("must be a string", "metadata.user_id")
    return text(user, "metadata.user_id")


def stop_sequences(body: JSON) -> list[str]:
    return _stop_sequences(body.get("stop_sequences"))


def openai_request(body: JSON, *, for_counting: bool = False) -> JSON:
    """The OpenAI chat completion body for a Messages API request; a 400 ApiError
    naming the field when the request is not valid. `for_counting` (count_tokens)
    needs no `max_tokens`."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("must be a non-empty string", "model")
    text(model, "model", required=True)
    out: JSON = {"model": model}
    if not for_counting:
        out["max_tokens"] = _max_tokens(body)
    messages = _messages(body.get("messages"))
    system = body.get("system")
    if system is not None and (content := _system(system)):
        messages.insert(0, {"role": "system", "content": content})
    out["messages"] = messages
    if body.get("tools") is not None:
        tools = _tools(body["tools"])
        if tools:
            out["tools"] = tools
            if body.get("tool_choice") is not None:
                out["tool_choice"], parallel_off = _tool_choice(body["tool_choice"])
                if parallel_off:
                    out["parallel_tool_calls"] = False
    if stops := stop_sequences(body):
        out["stop"] = stops
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = _number(body, name, 0, high)
        if value is not None:
            out[name] = value
    _number(body, "top_k", 0, None)  # checked, then dropped: OpenAI-format upstreams lack it
    if user := _user(body.get("metadata")):
        out["user"] = user
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("must be a boolean", "stream")
    if stream and not for_counting:
        out["stream"] = True
        # The final usage chunk is what message_delta reports.
        out["stream_options"] = {"include_usage": True}
    return out


def without_cache_control(value: Any) -> Any:
    """`value` with every `cache_control` field removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [without_cache_control(v) for v in value]
    return value
