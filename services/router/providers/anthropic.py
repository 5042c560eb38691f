"""Anthropic's Messages API behind the OpenAI chat completion interface.

The client's OpenAI body is translated to a Messages request (POST {base_url}/messages)
and the answer back to OpenAI's format, streamed or not. What translates:
system/developer messages become `system`; text and image parts (data: URLs as base64,
http(s) URLs as url sources); assistant `tool_calls` become `tool_use` blocks and
`tool` messages `tool_result` blocks; `tools`, `tool_choice` ("none" omits the tools),
`parallel_tool_calls: false`, `stop`, `temperature`, `top_p`, `max_tokens` /
`max_completion_tokens` (4096 when the client sent none), `stream` and `user`
(as `metadata.user_id`).

`n` above 1 is refused (Anthropic makes one choice). Every other OpenAI field is
dropped, among them `frequency_penalty`, `presence_penalty`, `seed`, `logit_bias`,
`logprobs`, `top_logprobs`, `response_format`, `stream_options` (usage is always
reported), `service_tier`, `store`, `metadata`, `reasoning_effort`, `modalities`,
`audio` and `prediction`. Thinking blocks in the answer are not passed on.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    RATE_LIMIT,
    ChatCall,
    Completion,
    StreamChunk,
    UpstreamError,
    upstream_failed,
)
from services.router.providers.openai import (
    CONNECT_TIMEOUT_SECONDS,
    LIMITS,
    error_for_exception,
    error_for_status,
    parse_object,
    sse_data,
)
from tollgate.config import ProviderConfig
from tollgate.v1 import common_pb2

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
OVERLOADED_STATUS = 529
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
RATE_LIMITED_ERROR_TYPES = frozenset({"overloaded_error", "rate_limit_error"})


def _invalid(message: str, param: str = "messages") -> UpstreamError:
    return UpstreamError(400, INVALID_REQUEST, "", message, param)


def _dumps(data: JSON) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


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
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part))
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
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": parsed if isinstance(parsed, dict) else {},
            }
        )
    return blocks


def _messages(messages: Any) -> tuple[str, list[JSON]]:
    """The joined system prompt and the turns, consecutive turns of one role merged."""
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list.")
    system: list[str] = []
    turns: list[JSON] = []
    for message in messages:
        if not isinstance(message, dict):
            raise _invalid("Each message must be an object.")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(_text_of(content))
            continue
        if role == "user":
            blocks = _content_blocks(content)
        elif role == "assistant":
            blocks = _content_blocks(content) + _tool_use_blocks(message.get("tool_calls"))
        elif role == "tool":
            role = "user"
            result = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
            blocks = [{**result, "content": _text_of(content)}]
        else:
            raise _invalid(f"Messages with role {role!r} are not supported by this model.")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
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
        out.append(entry)
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
    if isinstance(body.get("user"), str) and body["user"]:
        request["metadata"] = {"user_id": body["user"]}
    if stream:
        request["stream"] = True
    return request


# --- response: Anthropic -> OpenAI --------------------------------------------------------


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def openai_usage(usage: JSON) -> tuple[JSON, common_pb2.Usage]:
    """OpenAI's usage block and the billing proto for an Anthropic usage block."""
    cache_read = _count(usage.get("cache_read_input_tokens"))
    prompt = (
        _count(usage.get("input_tokens"))
        + cache_read
        + _count(usage.get("cache_creation_input_tokens"))
    )
    completion = _count(usage.get("output_tokens"))
    block = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
    proto = common_pb2.Usage(
        prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cache_read
    )
    return block, proto


def _finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def openai_completion(data: JSON, model: str) -> tuple[JSON, common_pb2.Usage | None]:
    """The OpenAI `chat.completion` for a Messages API response, and its usage."""
    texts: list[str] = []
    tool_calls: list[JSON] = []
    for block in data.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            function = {"name": block.get("name"), "arguments": json.dumps(block.get("input"))}
            tool_calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: JSON = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    result: JSON = {
        "id": f"chatcmpl-{data.get('id', '')}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model") or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(data.get("stop_reason")),
            }
        ],
    }
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return result, None
    result["usage"], proto = openai_usage(usage)
    return result, proto


def stream_error(event: JSON) -> UpstreamError:
    """The client-facing error for an `error` event in the stream."""
    error = event.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    if kind in RATE_LIMITED_ERROR_TYPES:
        return UpstreamError(
            429,
            RATE_LIMIT,
            "upstream_rate_limited",
            "The upstream provider is overloaded or rate limiting requests; retry later.",
        )
    return upstream_failed("The upstream provider failed mid-stream.")


class StreamTranslator:
    """Turns Messages API stream events into OpenAI `chat.completion.chunk`s."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = "chatcmpl-"
        self.created = int(time.time())
        self.usage: JSON = {}
        self.finished = False
        self.stopped = False
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index

    def _chunk(self, delta: JSON, finish_reason: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self._base(), "choices": [choice]}

    def _base(self) -> JSON:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _take_usage(self, usage: Any) -> None:
        # Counts in later events are cumulative: each replaces the one before, never adds.
        if isinstance(usage, dict):
            self.usage.update({k: v for k, v in usage.items() if v is not None})

    def feed(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.id = f"chatcmpl-{message.get('id', '')}"
            self.model = message.get("model") or self.model
            self._take_usage(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": "", "refusal": None})]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tool_index.setdefault(event.get("index", 0), len(self._tool_index))
                call = {
                    "index": index,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [self._chunk({"content": delta["text"]})]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                tool = self._tool_index.get(event.get("index", -1))
                if tool is None:
                    raise upstream_failed("The upstream provider sent an unexpected stream.")
                arguments = {"arguments": delta["partial_json"]}
                return [self._chunk({"tool_calls": [{"index": tool, "function": arguments}]})]
            return []
        if kind == "message_delta":
            self._take_usage(event.get("usage"))
            stop_reason = (event.get("delta") or {}).get("stop_reason")
            if self.finished or stop_reason is None:
                return []
            self.finished = True
            return [self._chunk({}, _finish_reason(stop_reason))]
        if kind == "message_stop":
            self.stopped = True
            out = [] if self.finished else [self._chunk({}, "stop")]
            self.finished = True
            return out + [{**self._base(), "choices": [], "usage": openai_usage(self.usage)[0]}]
        if kind == "error":
            raise stream_error(event)
        return []  # ping, content_block_stop, and event types added later


def _error_for_status(status: int, body: bytes) -> UpstreamError:
    # 529 is Anthropic's "overloaded": the client should back off as for a 429.
    return error_for_status(429 if status == OVERLOADED_STATUS else status, body)


class AnthropicProvider:
    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self._url = f"{config.base_url.rstrip('/')}/messages"
        self._headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if config.api_key:
            self._headers["x-api-key"] = config.api_key
        timeout = httpx.Timeout(
            config.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds)
        )
        self._client = client or httpx.AsyncClient(timeout=timeout, limits=LIMITS)

    def _payload(self, call: ChatCall, *, stream: bool) -> bytes:
        return _dumps(anthropic_request(call.body, call.served_model, stream=stream))

    async def complete(self, call: ChatCall) -> Completion:
        payload = self._payload(call, stream=False)
        try:
            response = await self._client.post(self._url, content=payload, headers=self._headers)
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        if response.status_code >= 400:
            raise _error_for_status(response.status_code, response.content)
        data, usage = openai_completion(parse_object(response.content), call.served_model)
        return Completion(body=_dumps(data), data=data, usage=usage)

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        request = self._client.build_request(
            "POST", self._url, content=self._payload(call, stream=True), headers=self._headers
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        events = sse_data(response)
        translator = StreamTranslator(call.served_model)
        try:
            if response.status_code >= 400:
                raise _error_for_status(response.status_code, await response.aread())
            async for data in events:
                for chunk in translator.feed(parse_object(data)):
                    usage = openai_usage(translator.usage)[1] if "usage" in chunk else None
                    yield StreamChunk(raw=_dumps(chunk), data=chunk, usage=usage)
                if translator.stopped:
                    return
            raise upstream_failed("The upstream provider ended the stream early.")
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        finally:
            await events.aclose()
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
