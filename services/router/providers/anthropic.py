"""Anthropic's Messages API behind the OpenAI chat completion interface.

The client's OpenAI body is translated to a Messages request (POST {base_url}/messages)
and the answer back to OpenAI's format, streamed or not. What translates:
system/developer messages become `system`; text and image parts (data: URLs as base64,
http(s) URLs as url sources); assistant `tool_calls` become `tool_use` blocks and
`tool` messages `tool_result` blocks; `tools`, `tool_choice` ("none" omits the tools),
`parallel_tool_calls: false`, `stop`, `temperature`, `top_p`, `max_tokens` /
`max_completion_tokens` (4096 when the client sent none), `stream` and `user`
(as `metadata.user_id`). A `cache_control` object on a content part, tool, tool call
or message (LiteLLM's and OpenRouter's convention) becomes Anthropic's `cache_control`
on the block it turns into (a message's on its last block); marked system parts keep
`system` a list of text blocks. Cache writes are reported to the client as
`prompt_tokens_details.cache_write_tokens` (as OpenRouter does).

`n` above 1 is refused (Anthropic makes one choice), and so are `temperature` above 1
(Anthropic's range is 0 to 1) and messages with no content. Every other OpenAI field is
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

from services.router.providers.anthropic_request import (
    anthropic_request,
    dumps,
)
from services.router.providers.base import (
    JSON,
    RATE_LIMIT,
    ChatCall,
    Completion,
    EmbedCall,
    Embeddings,
    StreamChunk,
    UpstreamError,
    embeddings_not_supported,
    upstream_failed,
)
from services.router.providers.clients import client_for
from services.router.providers.http import (
    UpstreamClient,
    error_for_status,
    parse_object,
    post_json,
    post_sse,
)
from tollgate.config import ProviderConfig
from tollgate.v1 import common_pb2

ANTHROPIC_VERSION = "2023-06-01"
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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def openai_usage(usage: JSON) -> tuple[JSON, common_pb2.Usage]:
    """OpenAI's usage block and the billing proto for an Anthropic usage block.

    Anthropic's input_tokens exclude the tokens read from and written to the prompt
    cache; OpenAI's prompt_tokens are the whole input, so they add up all three, and
    the proto says which parts were cache reads and cache writes (each has its price).
    """
    cache_read = _count(usage.get("cache_read_input_tokens"))
    cache_write = _count(usage.get("cache_creation_input_tokens"))
    prompt = _count(usage.get("input_tokens")) + cache_read + cache_write
    completion = _count(usage.get("output_tokens"))
    details = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_write_tokens"] = cache_write  # OpenRouter's name for cache writes
    block = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }
    proto = common_pb2.Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
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
        # Output counts are final only in message_delta; message_start's are a placeholder.
        self.final_usage_seen = False
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
            if isinstance(event.get("usage"), dict) and "output_tokens" in event["usage"]:
                self.final_usage_seen = True
            stop_reason = (event.get("delta") or {}).get("stop_reason")
            if self.finished or stop_reason is None:
                return []
            self.finished = True
            return [self._chunk({}, _finish_reason(stop_reason))]
        if kind == "message_stop":
            self.stopped = True
            out = [] if self.finished else [self._chunk({}, "stop")]
            self.finished = True
            if not self.final_usage_seen:
                return out  # no usage to report: the router estimates it
            return out + [{**self._base(), "choices": [], "usage": openai_usage(self.usage)[0]}]
        if kind == "error":
            raise stream_error(event)
        return []  # ping, content_block_stop, and event types added later


def _error_for_status(status: int, body: bytes) -> UpstreamError:
    # 529 is Anthropic's "overloaded": the client should back off as for a 429.
    return error_for_status(429 if status == OVERLOADED_STATUS else status, body)


class AnthropicProvider:
    def __init__(self, config: ProviderConfig, client: UpstreamClient | None = None) -> None:
        self.name = config.name
        self._url = f"{config.base_url.rstrip('/')}/messages"
        self._headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if config.api_key:
            self._headers["x-api-key"] = config.api_key
        self._client = client or client_for(config)

    def _payload(self, call: ChatCall, *, stream: bool) -> bytes:
        return dumps(anthropic_request(call.body, call.served_model, stream=stream))

    async def complete(self, call: ChatCall) -> Completion:
        payload = self._payload(call, stream=False)
        answer = await post_json(self._client, self._url, payload, self._headers, _error_for_status)
        data, usage = openai_completion(answer.data, call.served_model)
        return Completion(body=dumps(data), data=data, usage=usage)

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        payload = self._payload(call, stream=True)
        events = post_sse(self._client, self._url, payload, self._headers, _error_for_status)
        translator = StreamTranslator(call.served_model)
        try:
            async for data in events:
                for chunk in translator.feed(parse_object(data)):
                    usage = openai_usage(translator.usage)[1] if "usage" in chunk else None
                    yield StreamChunk(raw=dumps(chunk), data=chunk, usage=usage)
                if translator.stopped:
                    return
            raise upstream_failed("The upstream provider ended the stream early.")
        finally:
            await events.aclose()

    async def embed(self, call: EmbedCall) -> Embeddings:
        raise embeddings_not_supported("Anthropic")

    async def aclose(self) -> None:
        await self._client.aclose()
