"""POST /v1/chat/completions: the OpenAI front door.

Authenticate, read the body once, then the shared path (`relay.open_relay`): steer,
rate-limit, reserve, relay. A non-streaming answer is the router's JSON as it came;
a stream is relayed as server-sent events ending in `data: [DONE]`, and an error
after the first chunk is an OpenAI error object in the stream."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.gateway.cache_header import requested_cache_mode
from services.gateway.chat_body import parse_chat
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
from services.gateway.validation import off_loop, read_body

log = logging.getLogger(__name__)


def _event(body: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def _sse(relay: Relay, span: trace.Span) -> AsyncIterator[bytes]:
    try:
        yield b"data: " + relay.first.chunk + b"\n\n"
        try:
            async for event in relay.rest():
                kind = kind_of(event)
                if kind is EventKind.CHUNK:
                    yield b"data: " + event.chunk + b"\n\n"
                elif kind is EventKind.ERROR:
                    yield _event(error_from_event(event.error).body())
                    return
        except grpc.aio.AioRpcError as exc:
            log.warning("router stream broke: %s", exc.code())
            yield _event(ApiError(502, "The upstream stream broke.", type="api_error").body())
            return
        await relay.aclose()
        yield b"data: [DONE]\n\n"
    finally:
        relay.close()
        span.end()


def chat_handler(deps: Deps) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request, started: Started) -> Response:
        admitted = await deps.gate.admit(request)
        ctx = CallContext.admitted(
            started, admitted, cache_mode=requested_cache_mode(request), wish=requested(request)
        )
        raw = await read_body(request)
        body = await off_loop(len(raw), parse_chat, raw)
        relay = await open_relay(deps, ctx, body)
        headers = {"x-request-id": ctx.request_id, **relay.headers}
        if relay.cache_hit:
            headers["x-tollgate-cache"] = "hit"
        if relay.kind is EventKind.RESPONSE:
            await relay.aclose()
            headers.update(await relay_cost_headers(deps.costs, ctx.caller, relay))
            return Response(relay.first.response, media_type="application/json", headers=headers)
        return StreamingResponse(
            _sse(relay, ctx.span),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )

    return traced("POST /v1/chat/completions", handle)
