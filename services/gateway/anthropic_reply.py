"""OpenAI chat completions (whole or streamed) as Anthropic Messages API replies, and
gateway errors in Anthropic's error format. Pure functions and one small state machine.

A stream is answered with the event sequence of the Messages API: message_start,
then per content block content_block_start, content_block_delta (text_delta or
input_json_delta) and content_block_stop, then message_delta (stop_reason,
stop_sequence, usage) and message_stop, each as an SSE `event:` line and a `data:` line.
message_start is sent before the upstream has reported usage, so its input_tokens is
tollgate's prompt estimate; the final message_delta carries the upstream's real
counts (input_tokens, cache_creation_input_tokens, cache_read_input_tokens and
output_tokens), which the anthropic SDK's stream helper takes as the final usage
(message_delta counts overwrite)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from services.gateway.errors import ApiError
from services.gateway.request_id import id_headers
from tollgate.v1 import common_pb2

JSON = dict[str, Any]
OVERLOADED_STATUSES = (503, 529)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    if status in OVERLOADED_STATUSES:
        return "overloaded_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(exc: ApiError, request_id: str | None = None) -> JSON:
    body: JSON = {
        "type": "error",
        "error": {"type": error_type(exc.status), "message": exc.message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def error_response(exc: ApiError, request_id: str) -> Response:
    """A gateway error as the Messages API answers it, with its request id headers."""
    return Response(
        json.dumps(error_body(exc, request_id)),
        status_code=exc.status,
        media_type="application/json",
        headers={**exc.headers, "request-id": request_id, **id_headers(request_id)},
    )


def message_id(request_id: str) -> str:
    """The message id for a gateway request id, so a message leads to its ledger row."""
    return "msg_" + request_id.removeprefix("req_")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_openai(usage: Any) -> JSON | None:
    """Anthropic's usage for OpenAI's; its input_tokens exclude cache reads and cache
    writes (`prompt_tokens_details.cache_write_tokens`, as OpenRouter names them)."""
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = _count(details.get("cached_tokens"))
    written = _count(details.get("cache_write_tokens"))
    prompt = _count(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(0, prompt - cached - written),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": _count(usage.get("completion_tokens")),
    }


def usage_from_proto(usage: common_pb2.Usage) -> JSON:
    """Anthropic's usage for what the router recorded (the provider's or its estimate)."""
    return {
        "input_tokens": max(
            0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens
        ),
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    }


def stop_reason(finish_reason: Any, matched: Any, stops: list[str]) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence). OpenAI does not say which stop sequence ended the
    text; vLLM-style servers do, in the choice's `stop_reason`, and that is used."""
    if finish_reason == "stop" and isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    return STOP_REASONS.get(finish_reason, "end_turn"), None


def _tool_input(arguments: Any) -> JSON:
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except ValueError:
        parsed = {}
    return parsed if isinstance(parsed, dict) else {}


def _tool_id(value: Any) -> str:
    return value if isinstance(value, str) and value else "toolu_" + uuid.uuid4().hex[:24]


def _first_choice(data: JSON) -> JSON:
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else {}
    return first if isinstance(first, dict) else {}


def message(
    completion: JSON, *, msg_id: str, model: str, stops: list[str], fallback_usage: JSON
) -> JSON:
    """The Messages API response for an OpenAI `chat.completion`; `fallback_usage`
    when the upstream reported none."""
    choice = _first_choice(completion)
    reply = choice.get("message")
    reply = reply if isinstance(reply, dict) else {}
    content: list[JSON] = []
    text = reply.get("content")
    if not isinstance(text, str) or not text:
        text = reply.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in reply.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            content.append(
                {
                    "type": "tool_use",
                    "id": _tool_id(call.get("id")),
                    "name": function.get("name") or "",
                    "input": _tool_input(function.get("arguments")),
                }
            )
    reason, sequence = stop_reason(choice.get("finish_reason"), choice.get("stop_reason"), stops)
    served = completion.get("model")
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": served if isinstance(served, str) and served else model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_from_openai(completion.get("usage")) or fallback_usage,
    }


def sse(event: JSON) -> bytes:
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


@dataclass
class StreamTranslator:
    """OpenAI `chat.completion.chunk`s in, Messages API stream events out."""

    msg_id: str
    stops: list[str]
    index: int = -1  # the open content block; -1 when none is open
    open_kind: str = ""  # "text" or "tool_use"
    tool_blocks: dict[int, int] = field(default_factory=dict)  # OpenAI tool index -> block
    finish_reason: Any = None
    matched: Any = None
    usage: JSON | None = None
    generated: list[str] = field(default_factory=list)  # for an estimate without usage

    def start(self, model: str, input_tokens: int) -> list[JSON]:
        usage = {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        }
        skeleton: JSON = {
            "id": self.msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [{"type": "message_start", "message": skeleton}, {"type": "ping"}]

    def _close(self) -> list[JSON]:
        if self.index < 0 or not self.open_kind:
            return []
        self.open_kind = ""
        return [{"type": "content_block_stop", "index": self.index}]

    def _open(self, block: JSON) -> list[JSON]:
        events = self._close()
        self.index += 1
        self.open_kind = block["type"]
        events.append({"type": "content_block_start", "index": self.index, "content_block": block})
        return events

    def _text(self, text: str) -> list[JSON]:
        events = [] if self.open_kind == "text" else self._open({"type": "text", "text": ""})
        self.generated.append(text)
        delta = {"type": "text_delta", "text": text}
        return [*events, {"type": "content_block_delta", "index": self.index, "delta": delta}]

    def _tool_call(self, call: JSON) -> list[JSON]:
        events: list[JSON] = []
        position = call.get("index", 0)
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        if position not in self.tool_blocks:
            block: JSON = {
                "type": "tool_use",
                "id": _tool_id(call.get("id")),
                "name": function.get("name") or "",
                "input": {},
            }
            events = self._open(block)
            self.tool_blocks[position] = self.index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self.generated.append(arguments)
            delta = {"type": "input_json_delta", "partial_json": arguments}
            index = self.tool_blocks[position]
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        return events

    def chunk(self, data: JSON) -> list[JSON]:
        if isinstance(data.get("usage"), dict):
            self.usage = usage_from_openai(data["usage"])  # the last one seen; never added
        choice = _first_choice(data)
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        events: list[JSON] = []
        text = delta.get("content")
        if isinstance(text, str) and text:
            events += self._text(text)
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                events += self._tool_call(call)
        if choice.get("finish_reason") is not None:
            self.finish_reason = choice["finish_reason"]
            self.matched = choice.get("stop_reason")
        return events

    def finish(self, fallback_usage: JSON) -> list[JSON]:
        """The closing events; `fallback_usage` when no chunk carried usage."""
        reason, sequence = stop_reason(self.finish_reason, self.matched, self.stops)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        return [
            *self._close(),
            {"type": "message_delta", "delta": delta, "usage": self.usage or fallback_usage},
            {"type": "message_stop"},
        ]
