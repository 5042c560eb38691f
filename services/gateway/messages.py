"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic-format front door.

A Messages API request is translated to an OpenAI chat completion body
(`anthropic_format`) and runs the path every chat call takes (`chat.open_relay`):
the same project keys (`x-api-key` or `Authorization: Bearer`), rate limits, budget
reservation, routing to any configured model, and the router's usage record. The
answer is translated back (`anthropic_reply`); every error, before or during a
stream, is in Anthropic's error format, and every response has a `request-id` header.
A client that leaves mid-stream closes the relay, which cancels the upstream call."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cached_property

import grpc
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from services.gateway.anthropic_format import (
    openai_request,
    stop_sequences,
    without_cache_control,
)
from services.gateway.anthropic_reply import (
    JSON,
    StreamTranslator,
    error_body,
    message,
    message_id,
    sse,
    usage_from_proto,
)
from services.gateway.auth import secret_from
from services.gateway.chat import SSE_HEADERS, ChatDeps, Relay, error_from_event, open_relay, traced
from services.gateway.errors import ApiError, unknown_model
from services.gateway.validation import ChatParams, chat_params, parse_json
from tollgate import tokens

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def error_response(exc: ApiError, request_id: str) -> Response:
    return Response(
        json.dumps(error_body(exc, request_id)),
        status_code=exc.status,
        media_type="application/json",
        headers={**exc.headers, "request-id": request_id, "x-request-id": request_id},
    )


def _error_event(exc: ApiError) -> bytes:
    return sse(error_body(exc))


def _parse(raw: bytes) -> JSON:
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("the router sent a chunk that is not JSON; skipped")
        return {}
    return data if isinstance(data, dict) else {}


class _Estimate:
    """tollgate's own count of a call, for message_start and for an upstream that
    reported no usage (the router then also records an estimate). Counted only when
    asked: a non-streaming call with usage never needs it."""

    def __init__(self, params: ChatParams, served_model: str) -> None:
        self.params = params
        self.model = served_model

    @cached_property
    def input_tokens(self) -> int:
        return tokens.count_chat_prompt(self.params.messages, self.model, self.params.tools)

    def usage(self, generated: list[str]) -> JSON:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": tokens.count_text("".join(generated), self.model),
        }


def _fallback_usage(relay: Relay, estimate: _Estimate, generated: list[str]) -> JSON:
    """What the router recorded when it said so (its last event), else our estimate."""
    if relay.usage is not None:
        return usage_from_proto(relay.usage)
    return estimate.usage(generated)


async def _stream(
    relay: Relay, translator: StreamTranslator, model: str, estimate: _Estimate, span: trace.Span
) -> AsyncIterator[bytes]:
    try:
        first = _parse(relay.first.chunk)
        served = first.get("model")
        served_model = served if isinstance(served, str) and served else model
        for event in translator.start(served_model, estimate.input_tokens):
            yield sse(event)
        for event in translator.chunk(first):
            yield sse(event)
        try:
            async for item in relay.rest():
                kind = item.WhichOneof("event")
                if kind == "chunk":
                    for event in translator.chunk(_parse(item.chunk)):
                        yield sse(event)
                elif kind == "error":
                    yield _error_event(error_from_event(item.error))
                    return
                # Other kinds (the router's usage record) are not for the client.
        except grpc.aio.AioRpcError as exc:
            log.warning("router stream broke: %s", exc.code())
            yield _error_event(ApiError(502, "The upstream stream broke.", type="api_error"))
            return
        fallback = _fallback_usage(relay, estimate, translator.generated)
        for event in translator.finish(fallback):
            yield sse(event)
    finally:
        relay.close()
        span.end()


async def _create(deps: ChatDeps, request: Request, request_id: str, span: trace.Span) -> Response:
    started_ms = int(time.time() * 1000)
    secret = secret_from(request)
    caller = await deps.keys.resolve(secret)
    body = parse_json(await request.body())
    translated = openai_request(body)
    params = chat_params(translated)
    route = await deps.models.get(params.model)
    if route is None or route.kind != "anthropic":
        # Strict OpenAI-compatible servers refuse fields they do not know with a 400;
        # only Anthropic reads cache marks (open_relay answers an unknown model).
        translated = without_cache_control(translated)
    raw = json.dumps(translated, separators=(",", ":"), ensure_ascii=False).encode()
    relay = await open_relay(deps, request_id, caller, secret, raw, params, started_ms, span)
    headers = {"request-id": request_id, "x-request-id": request_id, **relay.headers}
    estimate = _Estimate(params, route.served_model if route else params.model)
    msg_id = message_id(request_id)
    stops = stop_sequences(body)
    if relay.kind == "response":
        await relay.aclose()
        completion = _parse(relay.first.response)
        texts = _generated(completion)
        reply = message(
            completion,
            msg_id=msg_id,
            model=params.model,
            stops=stops,
            fallback_usage=_fallback_usage(relay, estimate, texts),
        )
        return JSONResponse(reply, headers=headers)
    return StreamingResponse(
        _stream(relay, StreamTranslator(msg_id, stops), params.model, estimate, span),
        media_type="text/event-stream",
        headers={**headers, **SSE_HEADERS},
    )


def _generated(completion: JSON) -> list[str]:
    """The texts of a completion's messages: its content and tool call arguments."""
    texts: list[str] = []
    choices = completion.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        reply = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(reply, dict):
            continue
        if isinstance(reply.get("content"), str):
            texts.append(reply["content"])
        for call in reply.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                texts.append(function["arguments"])
    return texts


def messages_handler(deps: ChatDeps) -> Handler:
    async def handle(request: Request, request_id: str, span: trace.Span) -> Response:
        try:
            return await _create(deps, request, request_id, span)
        except ApiError as exc:
            return error_response(exc, request_id)

    return traced("POST /v1/messages", handle)


def count_tokens_handler(deps: ChatDeps) -> Handler:
    """tollgate's estimate of a request's input tokens (the figure its budget holds),
    not the provider's count; nothing is called upstream and nothing is billed."""

    async def handle(request: Request, request_id: str, span: trace.Span) -> Response:
        try:
            await deps.keys.resolve(secret_from(request))
            translated = openai_request(parse_json(await request.body()), for_counting=True)
            route = await deps.models.get(translated["model"])
            if route is None:
                raise unknown_model(translated["model"])
            count = tokens.count_chat_prompt(
                translated["messages"], route.served_model, translated.get("tools")
            )
        except ApiError as exc:
            return error_response(exc, request_id)
        return JSONResponse(
            {"input_tokens": count}, headers={"request-id": request_id, "x-request-id": request_id}
        )

    return traced("POST /v1/messages/count_tokens", handle)
