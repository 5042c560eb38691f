"""The door's checks of a request body, with OpenAI-style 400s naming the field.

Every body passes `parse_json`: at most 32 MiB, JSON of at most 100 levels and
1,000,000 items (commas), and no lone surrogate in any string or key (they break the
tokenizer and protobuf encoding; the JSON path of the first one is the `param`).
Text that reaches storage or a protobuf (model, user, metadata.user_id) passes
`text`: no NUL (PostgreSQL refuses it in text, so the ledger row would be lost and
the call free) and no longer than its column. Integers that reach a protobuf pass
`bounded_int`. Large bodies are parsed and counted off the event loop (`off_loop`).

Only what tollgate reasons about is checked; every other field passes through to
the upstream untouched (a chat body is forwarded byte for byte)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from services.gateway.errors import ApiError, bad_request

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 100
# An upper bound on a body's values (every comma counts, in strings too): parsing a
# million tiny values costs ~75 ms and ~100 MB, and no model takes a prompt that big.
MAX_JSON_ITEMS = 1_000_000
MAX_TEXT_CHARS = 200  # the ledger's model and end_user columns
MAX_TOKENS = 2**31 - 1
MAX_CHOICES = 128
MAX_DIMENSIONS = 65_536
# Bodies up to this size are parsed and counted on the event loop (it is quicker
# than a thread hop); larger ones in a worker thread.
INLINE_BYTES = 64 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")
_SCAN_CHARS = 1 << 20  # search long strings a slice at a time: other threads run between

T = TypeVar("T")


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


def whole_number(value: str, param: str, low: int, high: int) -> int:
    """A query parameter that must be a whole number from `low` to `high`, in ASCII
    digits ("²" is a digit to isdigit() and a ValueError to int(), and a 5,000-digit
    number is refused before it is parsed); a 400 naming `param` otherwise."""
    if (
        not (value.isascii() and value.isdigit() and len(value) <= len(str(high)))
        or not low <= int(value) <= high
    ):
        raise bad_request(f"'{param}' must be a whole number from {low} to {high}.", param)
    return int(value)


def too_large() -> ApiError:
    return ApiError(413, f"Request body is larger than {MAX_BODY_BYTES} bytes.", code="too_large")


async def read_body(request: Request) -> bytes:
    """The request body, refused with a 413 as soon as it is known to be too large:
    from Content-Length before reading, else while reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large()
    return bytes(body)


# Parsing holds the GIL for a whole C call (json.loads of a 30 MB string takes tens
# of ms), so large bodies are parsed one at a time: parallel parses would each hold
# the event loop back in turn. Counting releases the GIL and runs in parallel.
_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="door-parse")


async def off_loop(size: int, work: Callable[..., T], *args: Any, gil: bool = True) -> T:
    """`work(*args)` for a body of `size` bytes: off the event loop when it is large, so
    parsing and counting never stall other requests. `gil=False`: the work releases
    the GIL (token counting), so it may run beside other work."""
    if size <= INLINE_BYTES:
        return work(*args)
    if not gil:
        return await asyncio.to_thread(work, *args)
    call = functools.partial(contextvars.copy_context().run, work, *args)
    return await asyncio.get_running_loop().run_in_executor(_PARSER, call)


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    return any(
        _SURROGATE.search(text, start, start + _SCAN_CHARS)
        for start in range(0, len(text), _SCAN_CHARS)
    )


Trail = tuple[Any, str | int] | None  # (parent trail, key or index), for the JSON path


def _path(trail: Trail) -> str:
    parts: list[str] = []
    while trail is not None:
        trail, key = trail
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            shown = key.encode("utf-8", "backslashreplace").decode()[:MAX_TEXT_CHARS]
            parts.append(f".{shown}" if trail is not None else shown)
    return "".join(reversed(parts))


def check_tree(body: Any) -> None:
    """A 400 when the parsed body nests deeper than MAX_DEPTH or holds a lone
    surrogate in any string or key (param: its JSON path, e.g. messages[0].content)."""
    stack: list[tuple[Any, Trail, int]] = [(body, None, 1)]
    while stack:
        value, trail, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request(
                f"The request body nests deeper than {MAX_DEPTH} levels.", param=_path(trail)
            )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            here = (trail, key)
            if isinstance(key, str) and _has_surrogate(key):
                raise _surrogate(here)
            if isinstance(item, dict | list):
                stack.append((item, here, depth + 1))
            elif isinstance(item, str) and _has_surrogate(item):
                raise _surrogate(here)


def _surrogate(trail: Trail) -> ApiError:
    path = _path(trail)
    return bad_request(
        f"'{path}' holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
        "send valid Unicode.",
        param=path,
    )


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object that passed `check_tree`; an ApiError otherwise."""
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    if not raw or raw.isspace():  # (strip() would copy the body)
        raise bad_request("The request body is empty; send a JSON object.")
    if raw.count(b",") > MAX_JSON_ITEMS:
        raise bad_request(
            f"The request body holds more than {MAX_JSON_ITEMS} commas (JSON items); "
            "split it into smaller requests."
        )
    try:
        body = json.loads(raw)
    except RecursionError:
        raise bad_request(f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    check_tree(body)
    return body


def text(value: Any, param: str, *, required: bool = False) -> str:
    """A text field that reaches storage or a protobuf: a string (empty when absent
    unless `required`), without NUL or lone surrogates, at most MAX_TEXT_CHARS."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        kind = "a non-empty string" if required else "a string"
        raise bad_request(f"'{param}' must be {kind}.", param=param)
    if len(value) > MAX_TEXT_CHARS:
        raise bad_request(f"'{param}' is longer than {MAX_TEXT_CHARS} characters.", param=param)
    if "\x00" in value or _has_surrogate(value):
        raise bad_request(
            f"'{param}' must not hold NUL characters or lone surrogates.", param=param
        )
    return value


def bounded_int(body: dict[str, Any], name: str, minimum: int, maximum: int) -> int | None:
    """An optional integer field within [minimum, maximum] (it may reach a protobuf)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer.", param=name)
    if value < minimum:
        raise bad_request(f"'{name}' must be at least {minimum}.", param=name)
    if value > maximum:
        raise bad_request(f"'{name}' must be at most {maximum}.", param=name)
    return value


def _check_message(i: int, message: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise bad_request(f"'{where}' must be an object.", param=where)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
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
    model = text(body.get("model"), "model", required=True)
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
    user = text(body.get("user"), "user")
    max_completion_tokens = bounded_int(body, "max_completion_tokens", 1, MAX_TOKENS)
    max_tokens = bounded_int(body, "max_tokens", 1, MAX_TOKENS)
    return ChatParams(
        model=model,
        messages=messages,
        tools=tools,
        stream=stream,
        include_usage=stream and include_usage,
        max_tokens=max_completion_tokens or max_tokens or 0,
        n=bounded_int(body, "n", 1, MAX_CHOICES) or 1,
        user=user,
    )
