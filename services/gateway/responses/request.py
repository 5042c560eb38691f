"""An OpenAI Responses API request, checked, and translated to a chat completion body
(pure functions).

`items(body)` is the request's `input` as a list of items (a string is one user
message), each checked; `chat_request` turns a conversation (the stored one of
`previous_response_id`, then these items) and the request's options into the chat
body every upstream speaks. What translates:

- `instructions` -> a system message, first;
- message items (roles user, system, developer, assistant; content a string or
  `input_text` / `input_image` / `output_text` / `refusal` parts) -> chat messages
  with text and image_url parts;
- `function_call` items -> an assistant message's `tool_calls` (consecutive calls,
  and calls right after assistant text, join one assistant message);
  `function_call_output` items -> `tool` messages; `reasoning` items are dropped;
- `tools` (Responses' flat function tools) -> chat's nested ones; `tool_choice`;
  `parallel_tool_calls`;
- `text.format` (json_schema, json_object, text) -> `response_format`;
  `text.verbosity` -> `verbosity`; `reasoning.effort` -> `reasoning_effort`;
- `max_output_tokens` -> `max_completion_tokens`; `temperature`, `top_p`, `user`;
  `stream` (with `stream_options.include_usage`, so the usage is the upstream's).

Refused with a 400 naming `param`: other item and part types (files, item
references, computer and search calls), non-function tools, `background`, `prompt`
and `conversation`. Fields with no chat equivalent that change nothing a client
relies on (`truncation`, `include`, `service_tier`, `prompt_cache_key`,
`safety_identifier`, `max_tool_calls`, `top_logprobs`) are dropped; `metadata` is
checked and kept with the stored response, not sent upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.gateway.errors import ApiError, bad_request
from services.gateway.validation import MAX_TOKENS, text

JSON = dict[str, Any]
MESSAGE_ROLES = ("user", "system", "developer", "assistant")
TOOL_CHOICES = ("auto", "none", "required")
REFUSED_FIELDS = ("prompt", "conversation")
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_ID_CHARS = 200


def _bad(message: str, param: str, code: str | None = None) -> ApiError:
    return bad_request(f"'{param}': {message}", param=param, code=code)


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _bad("must be a string", param)
    return value


def _identifier(value: Any, param: str) -> str:
    """An id or name that may be stored: a non-empty string without NUL."""
    if not isinstance(value, str) or not value:
        raise _bad("must be a non-empty string", param)
    if len(value) > MAX_ID_CHARS or "\x00" in value:
        raise _bad(f"must be at most {MAX_ID_CHARS} characters, without NUL", param)
    return value


def _text_part(part: JSON, param: str) -> JSON:
    return {"type": "text", "text": _string(part.get("text"), f"{param}.text")}


def _image_part(part: JSON, param: str) -> JSON:
    url = part.get("image_url")
    if part.get("file_id") is not None and url is None:
        raise _bad("images by file_id are not supported here; send image_url", param)
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
        raise _bad("must be an http(s) or data: URL", f"{param}.image_url")
    image: JSON = {"url": url}
    detail = part.get("detail")
    if detail is not None:
        if detail not in ("auto", "low", "high"):
            raise _bad("must be 'auto', 'low' or 'high'", f"{param}.detail")
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _parts(content: Any, role: str, param: str) -> str | list[JSON]:
    """A message's content as chat content: a string, or text and image parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad("must be a string or a list of content parts", param)
    parts: list[JSON] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _bad("must be an object with a 'type'", where)
        kind = part["type"]
        if kind in ("input_text", "output_text"):
            parts.append(_text_part(part, where))
        elif kind == "refusal":
            parts.append({"type": "text", "text": _string(part.get("refusal"), f"{where}.refusal")})
        elif kind == "input_image" and role != "assistant":
            parts.append(_image_part(part, where))
        else:
            raise _bad(f"content parts of type {kind!r} are not supported here", f"{where}.type")
    return parts


def _arguments(value: Any, param: str) -> str:
    arguments = _string(value, param)
    if arguments:
        try:
            json.loads(arguments)
        except ValueError:
            raise _bad("must be a JSON-encoded string", param) from None
    return arguments


def _output(value: Any, param: str) -> str | list[JSON]:
    """A function_call_output's output: a string, or text parts (joined: chat's tool
    messages hold text)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _bad("must be a string or a list of input_text parts", param)
    texts = []
    for i, part in enumerate(value):
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text"):
            raise _bad("must be an input_text part", f"{param}[{i}]")
        texts.append(_string(part.get("text"), f"{param}[{i}].text"))
    return "".join(texts)


def _check_item(item: Any, param: str) -> JSON:
    if not isinstance(item, dict):
        raise _bad("must be an object", param)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            raise _bad(f"must be one of {', '.join(MESSAGE_ROLES)}", f"{param}.role")
        _parts(item.get("content"), role, f"{param}.content")
    elif kind == "function_call":
        _identifier(item.get("call_id"), f"{param}.call_id")
        _identifier(item.get("name"), f"{param}.name")
        _arguments(item.get("arguments"), f"{param}.arguments")
    elif kind == "function_call_output":
        _identifier(item.get("call_id"), f"{param}.call_id")
        _output(item.get("output"), f"{param}.output")
    elif kind != "reasoning":
        shown = kind if isinstance(kind, str) else type(kind).__name__
        raise _bad(f"input items of type {shown!r} are not supported here", f"{param}.type")
    if item.get("id") is not None:
        _identifier(item["id"], f"{param}.id")
    return item


def items(body: JSON) -> list[JSON]:
    """The request's `input` as a list of checked items; a string is one user message."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list):
        raise _bad("must be a string or a list of input items", "input")
    return [_check_item(item, f"input[{i}]") for i, item in enumerate(given)]


def _messages(conversation: list[JSON]) -> list[JSON]:
    """Chat messages for a conversation of checked items."""
    messages: list[JSON] = []
    for item in conversation:
        kind = item.get("type", "message")
        if kind == "message":
            role = item["role"]
            content = _parts(item.get("content"), role, "input")
            if role == "assistant" and isinstance(content, list):
                content = "".join(part["text"] for part in content)
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if not last.get("content"):
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = _output(item.get("output"), "input")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
    return messages


def _tools(value: Any) -> list[JSON]:
    if not isinstance(value, list):
        raise _bad("must be a list", "tools")
    tools = []
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _bad("must be an object", where)
        if tool.get("type") != "function":
            raise _bad("only function tools are supported by this model", f"{where}.type")
        function: JSON = {"name": _identifier(tool.get("name"), f"{where}.name")}
        if tool.get("description") is not None:
            function["description"] = _string(tool["description"], f"{where}.description")
        if tool.get("parameters") is not None:
            if not isinstance(tool["parameters"], dict):
                raise _bad("must be a JSON Schema object", f"{where}.parameters")
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            if not isinstance(tool["strict"], bool):
                raise _bad("must be a boolean", f"{where}.strict")
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(value: Any) -> str | JSON:
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise _bad(f"must be one of {', '.join(TOOL_CHOICES)}", "tool_choice")
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        return {
            "type": "function",
            "function": {"name": _identifier(value.get("name"), "tool_choice.name")},
        }
    raise _bad("must be 'auto', 'none', 'required' or a function choice", "tool_choice")


def _response_format(text_config: Any) -> JSON | None:
    if not isinstance(text_config, dict):
        raise _bad("must be an object", "text")
    if text_config.get("verbosity") not in (None, "low", "medium", "high"):
        raise _bad("must be 'low', 'medium' or 'high'", "text.verbosity")
    given = text_config.get("format")
    if given is None:
        return None
    if not isinstance(given, dict):
        raise _bad("must be an object", "text.format")
    kind = given.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise _bad("must be 'text', 'json_object' or 'json_schema'", "text.format.type")
    schema = given.get("schema")
    if not isinstance(schema, dict):
        raise _bad("must be a JSON Schema object", "text.format.schema")
    spec: JSON = {"name": _identifier(given.get("name"), "text.format.name"), "schema": schema}
    if given.get("description") is not None:
        spec["description"] = _string(given["description"], "text.format.description")
    if given.get("strict") is not None:
        if not isinstance(given["strict"], bool):
            raise _bad("must be a boolean", "text.format.strict")
        spec["strict"] = given["strict"]
    return {"type": "json_schema", "json_schema": spec}


def _number(body: JSON, name: str, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise _bad(f"must be a number from 0 to {high:g}", name)
    return value


def max_output_tokens(body: JSON) -> int:
    """`max_output_tokens`, or 0 when not set."""
    value = body.get("max_output_tokens")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS:
        raise _bad(f"must be an integer from 1 to {MAX_TOKENS}", "max_output_tokens")
    return value


def metadata(body: JSON) -> dict[str, str]:
    value = body.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise _bad(f"must be an object of at most {MAX_METADATA_KEYS} keys", "metadata")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise _bad(f"keys must be at most {MAX_METADATA_KEY} characters", "metadata")
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise _bad(f"values must be strings of at most {MAX_METADATA_VALUE}", f"metadata.{key}")
    return value


def _flag(body: JSON, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad("must be a boolean", name)
    return value


@dataclass(frozen=True)
class Options:
    """The request's own fields a Response echoes and the front door acts on."""

    model: str
    stream: bool
    store: bool
    previous_response_id: str
    instructions: str | None
    metadata: dict[str, str]
    max_output_tokens: int

    @classmethod
    def of(cls, body: JSON) -> Options:
        model = text(body.get("model"), "model", required=True)
        previous = body.get("previous_response_id")
        instructions = body.get("instructions")
        if instructions is not None:
            instructions = _string(instructions, "instructions")
        for name in REFUSED_FIELDS:
            if body.get(name) is not None:
                raise _bad("is not supported by this gateway", name)
        if _flag(body, "background", False):
            raise _bad("background responses are not supported by this gateway", "background")
        return cls(
            model=model,
            stream=_flag(body, "stream", False),
            store=_flag(body, "store", True),
            previous_response_id=(
                _identifier(previous, "previous_response_id") if previous is not None else ""
            ),
            instructions=instructions,
            metadata=metadata(body),
            max_output_tokens=max_output_tokens(body),
        )


def chat_request(body: JSON, options: Options, conversation: list[JSON]) -> JSON:
    """The chat completion body for a Responses request whose whole conversation
    (stored history, then this request's items) is `conversation`."""
    messages = _messages(conversation)
    if options.instructions:
        messages.insert(0, {"role": "system", "content": options.instructions})
    if not messages:
        raise _bad("holds no message to answer", "input")
    out: JSON = {"model": options.model, "messages": messages}
    if body.get("tools") is not None:
        tools = _tools(body["tools"])
        if tools:
            out["tools"] = tools
            if body.get("tool_choice") is not None:
                out["tool_choice"] = _tool_choice(body["tool_choice"])
            if body.get("parallel_tool_calls") is not None:
                out["parallel_tool_calls"] = _flag(body, "parallel_tool_calls", True)
    if body.get("text") is not None and (response_format := _response_format(body["text"])):
        out["response_format"] = response_format
    if isinstance(body.get("text"), dict) and body["text"].get("verbosity"):
        out["verbosity"] = body["text"]["verbosity"]
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise _bad("must be an object", "reasoning")
        effort = reasoning.get("effort")
        if effort is not None:
            if effort not in ("minimal", "low", "medium", "high", "none", "xhigh"):
                raise _bad("must be minimal, low, medium or high", "reasoning.effort")
            out["reasoning_effort"] = effort
    if options.max_output_tokens:
        out["max_completion_tokens"] = options.max_output_tokens
    for name in ("temperature", "top_p"):
        value = _number(body, name, 2.0 if name == "temperature" else 1.0)
        if value is not None:
            out[name] = value
    if user := text(body.get("user"), "user"):
        out["user"] = user
    if options.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out
