"""POST /v1/messages: the Anthropic-format front door (its token count is in
count_tokens.py).

A Messages API request is translated to an OpenAI chat completion body
(`anthropic_format`) and runs the path every chat call takes (`relay.open_relay`):
the same project keys (`x-api-key` or `Authorization: Bearer`), rate limits, budget
reservation, routing to any configured model, and the router's usage record. The
answer is translated back (`anthropic_reply`); every error, before or during a
stream, is in Anthropic's error format, and every response has a `request-id` header.
A client that leaves mid-stream closes the relay, which cancels the upstream call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

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
    error_response,
    message,
    message_id,
    sse,
    usage_from_proto,
)
from services.gateway.cache_header import requested_cache_mode
from services.gateway.chat_body import ChatBody, encode
from services.gateway.context import CallContext, Started, traced
from services.gateway.cost_header import relay_cost_headers
from services.gateway.deps import Deps
from services.gateway.errors import ApiError
from services.gateway.policy import requested
from services.gateway.relay import (
    SSE_HEADERS,
    EventKind,
    Relay,
    error_from_event,
    kind_of,
    open_relay,
)
from services.gateway.router_json import generated_texts, router_object
from services.gateway.validation import ChatParams, chat_params, off_loop, parse_json, read_body
from tollgate import tokens

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def _error_event(exc: ApiError) -> bytes:
    return sse(error_body(exc))


class _Estimate:
    """tollgate's own count of a call, for message_start and for an upstream that
    reported no usage (the router then also records an estimate). The input is the
    count the relay reserved for (made off the event loop for a large body)."""

    def __init__(self, input_tokens: int, served_model: str) -> None:
        self.input_tokens = input_tokens
        self.model = served_model

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
        first = router_object(relay.first.chunk)
        served = first.get("model")
        served_model = served if isinstance(served, str) and served else model
        for event in translator.start(served_model, estimate.input_tokens):
            yield sse(event)
        for event in translator.chunk(first):
            yield sse(event)
        try:
            async for item in relay.rest():
                kind = kind_of(item)
                if kind is EventKind.CHUNK:
                    for event in translator.chunk(router_object(item.chunk)):
                        yield sse(event)
                elif kind is EventKind.ERROR:
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


def _translate(given: bytes) -> tuple[JSON, JSON, ChatParams]:
    """The Messages API body, its OpenAI translation, and the checked chat params."""
    body = parse_json(given)
    translated = openai_request(body)
    return body, translated, chat_params(translated)


def _chat_body(translated: JSON, params: ChatParams, keep_cache_marks: bool) -> ChatBody:
    """The body sent upstream. Without cache marks, its params are read from the body
    without them too: steering writes compacted `params.messages` back into the body,
    and must not bring the marks back."""
    if keep_cache_marks:
        return ChatBody(translated, encode(translated), params)
    sent = without_cache_control(translated)
    return ChatBody(sent, encode(sent), chat_params(sent))


async def _create(deps: Deps, request: Request, started: Started) -> Response:
    admitted = await deps.gate.admit(request)
    ctx = CallContext.admitted(
        started, admitted, cache_mode=requested_cache_mode(request), wish=requested(request)
    )
    given = await read_body(request)
    body, translated, params = await off_loop(len(given), _translate, given)
    route = await deps.models.get(params.model)
    # Strict OpenAI-compatible servers refuse fields they do not know with a 400;
    # only Anthropic reads cache marks (open_relay answers an unknown model).
    keep_marks = route is not None and route.kind == "anthropic"
    chat = await off_loop(len(given), _chat_body, translated, params, keep_marks)
    relay = await open_relay(deps, ctx, chat)
    request_id = ctx.request_id
    headers = {"request-id": request_id, "x-request-id": request_id, **relay.headers}
    if relay.cache_hit:
        headers["x-tollgate-cache"] = "hit"
    estimate = _Estimate(relay.prompt_tokens, route.served_model if route else params.model)
    msg_id = message_id(request_id)
    stops = stop_sequences(body)
    if relay.kind is EventKind.RESPONSE:
        await relay.aclose()
        headers.update(await relay_cost_headers(deps.costs, ctx.caller, relay))
        completion = router_object(relay.first.response)
        texts = generated_texts(completion)
        reply = message(
            completion,
            msg_id=msg_id,
            model=params.model,
            stops=stops,
            fallback_usage=_fallback_usage(relay, estimate, texts),
        )
        return JSONResponse(reply, headers=headers)
    return StreamingResponse(
        _stream(relay, StreamTranslator(msg_id, stops), params.model, estimate, ctx.span),
        media_type="text/event-stream",
        headers={**headers, **SSE_HEADERS},
    )


def messages_handler(deps: Deps) -> Handler:
    async def handle(request: Request, started: Started) -> Response:
        try:
            return await _create(deps, request, started)
        except ApiError as exc:
            return error_response(exc, started.request_id)

    return traced("POST /v1/messages", handle)
