"""The Responses API of an upstream that serves it natively (OpenAI): the client's
body goes to `{base_url}/responses` as it came, aimed at the served model, and the
answer comes back as it went, a `response` object or its stream of events.

Usage is read in the Responses format: a response's `usage` (input_tokens,
input_tokens_details.cached_tokens, output_tokens,
output_tokens_details.reasoning_tokens); in a stream, that of the final
`response.completed` (or `response.incomplete` / `response.failed`) event. An `error`
event mid-stream raises UpstreamError, as a broken chat stream does."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    ChatCall,
    Completion,
    StreamChunk,
    UpstreamError,
    upstream_failed,
)
from services.router.providers.http import UpstreamClient, parse_object, post_json, post_sse
from tollgate.v1 import common_pb2

RESPONSES = "responses"
FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _details(usage: JSON, key: str) -> JSON:
    details = usage.get(key)
    return details if isinstance(details, dict) else {}


def usage_of_response(response: Any) -> common_pb2.Usage | None:
    """The usage of a Responses API `response` object, if it has one."""
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return None
    inputs = _details(usage, "input_tokens_details")
    return common_pb2.Usage(
        prompt_tokens=_int(usage.get("input_tokens")),
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=_int(inputs.get("cached_tokens")),
        cache_write_tokens=_int(inputs.get("cache_write_tokens")),
        reasoning_tokens=_int(_details(usage, "output_tokens_details").get("reasoning_tokens")),
    )


def not_served(provider: str) -> UpstreamError:
    return UpstreamError(
        400,
        INVALID_REQUEST,
        "responses_not_supported",
        f"The model is served by {provider}, which does not speak the Responses API here.",
        "model",
    )


def payload(call: ChatCall, *, stream: bool) -> bytes:
    body = {**call.body, "model": call.served_model}
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def respond(
    client: UpstreamClient, url: str, headers: Mapping[str, str], call: ChatCall
) -> Completion:
    answer = await post_json(client, url, payload(call, stream=False), headers)
    return Completion(body=answer.raw, data=answer.data, usage=usage_of_response(answer.data))


async def respond_stream(
    client: UpstreamClient, url: str, headers: Mapping[str, str], call: ChatCall
) -> AsyncGenerator[StreamChunk, None]:
    events = post_sse(client, url, payload(call, stream=True), headers)
    try:
        async for data in events:
            if data == "[DONE]":
                return
            event = parse_object(data)
            if event.get("type") == "error":
                message = event.get("message")
                raise upstream_failed(
                    message
                    if isinstance(message, str) and message
                    else "The upstream provider failed mid-stream."
                )
            usage = None
            if event.get("type") in FINAL_EVENTS:
                usage = usage_of_response(event.get("response"))
            yield StreamChunk(raw=data.encode(), data=event, usage=usage)
    finally:
        await events.aclose()


def generated_texts(data: JSON) -> list[str]:
    """The generated text of a response object or a stream event, for counting when
    the upstream reports no usage: output text and function call arguments."""
    kind = data.get("type")
    if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
        delta = data.get("delta")
        return [delta] if isinstance(delta, str) else []
    texts: list[str] = []
    output = data.get("output")
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("arguments"), str):
            texts.append(item["arguments"])
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts
