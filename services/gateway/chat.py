"""POST /v1/chat/completions: authenticate, validate, reserve, relay, answer.

`open_relay` is the path every front door shares (this one and the Anthropic-format
/v1/messages): route, reserve, start the router call.

The router records usage with metering, so a client that goes away mid-stream
still leaves a ledger row; this module only cancels the router call then."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.gateway.auth import Caller, KeyCache, secret_from
from services.gateway.catalog import ModelCatalog
from services.gateway.errors import (
    ApiError,
    bad_request,
    budget_exceeded,
    invalid_key,
    unavailable,
    unknown_model,
)
from services.gateway.ratelimit import Lease, Limiter
from services.gateway.validation import ChatParams, chat_params, parse_json
from tollgate import telemetry, tokens
from tollgate.config import Route
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2, router_pb2, router_pb2_grpc

log = logging.getLogger(__name__)

AUTHORIZE_TIMEOUT_SECONDS = 5.0
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
Decision = budget_pb2.AuthorizeResponse
TRACER = telemetry.tracer(__name__)


@dataclass
class ChatDeps:
    keys: KeyCache
    models: ModelCatalog
    budget: budget_pb2_grpc.BudgetStub
    router: router_pb2_grpc.RouterStub
    limits: Limiter = field(default_factory=Limiter.unlimited)


def error_from_event(error: common_pb2.Error) -> ApiError:
    return ApiError(
        error.http_status or 502,
        error.message or "The upstream call failed.",
        type=error.type or "api_error",
        code=error.code or None,
        param=error.param or None,
    )


async def _authorize(
    deps: ChatDeps,
    request_id: str,
    caller: Caller,
    secret: str,
    route: Route,
    params: ChatParams,
    prompt_tokens: int,
) -> None:
    await authorize(
        deps,
        request_id,
        caller,
        secret,
        route.served_model,
        user=params.user,
        prompt_tokens=prompt_tokens,
        max_completion_tokens=params.max_tokens,
        choices=params.n,
    )


async def authorize(
    deps: ChatDeps,
    request_id: str,
    caller: Caller,
    secret: str,
    served_model: str,
    *,
    user: str,
    prompt_tokens: int,
    max_completion_tokens: int,
    choices: int,
) -> None:
    """Reserve the call's worst case with Budget; ApiError when it may not run.
    `max_completion_tokens` 0 holds the model's whole output cap."""
    try:
        answer = await deps.budget.Authorize(
            budget_pb2.AuthorizeRequest(
                request_id=request_id,
                caller=common_pb2.Caller(
                    project_id=caller.project_id, key_id=caller.key_id, end_user=user
                ),
                model=served_model,
                prompt_tokens_estimate=prompt_tokens,
                max_completion_tokens=max_completion_tokens,
                choices=choices,
            ),
            timeout=AUTHORIZE_TIMEOUT_SECONDS,
            # Ride out a budget replica's restart instead of failing at once.
            wait_for_ready=True,
            metadata=telemetry.outgoing_metadata(),
        )
    except grpc.aio.AioRpcError as exc:
        log.warning("authorize %s failed: %s", request_id, exc.code())
        raise unavailable("budget") from None
    if answer.decision == Decision.ALLOWED:
        return
    if answer.decision == Decision.KEY_REVOKED:
        deps.keys.forget(secret)
        raise invalid_key("This API key has been revoked.")
    if answer.decision == Decision.KEY_PAUSED:
        message = answer.message or "This API key is paused; an operator can resume it."
        raise ApiError(403, message, type="permission_error", code="key_paused")
    if answer.decision == Decision.BUDGET_EXCEEDED:
        raise budget_exceeded(answer.message)
    if answer.decision == Decision.MODEL_NOT_PRICED:
        raise bad_request(answer.message, param="model", code="model_not_priced")
    raise unavailable("budget")


async def release(deps: ChatDeps, request_id: str) -> None:
    try:
        await deps.budget.Release(budget_pb2.ReleaseRequest(request_id=request_id), timeout=5)
    except grpc.aio.AioRpcError:  # the reservation expires on its own
        log.warning("release of %s failed; it will expire", request_id)


@dataclass
class Relay:
    """An authorized call the router has started answering: its first event, and the
    stream of the rest. Every front door (OpenAI chat, Anthropic messages) formats
    the same events in its own wire format, and calls `close()` when done."""

    request_id: str
    first: router_pb2.ChatEvent
    call: grpc.aio.UnaryStreamCall
    lease: Lease = field(default_factory=Lease)
    # What the router recorded, from its last event (never shown to the client).
    usage: common_pb2.Usage | None = None
    closed: bool = False

    @property
    def kind(self) -> str:
        return self.first.WhichOneof("event") or ""

    @property
    def headers(self) -> dict[str, str]:
        """The x-ratelimit-* headers for the response (none when no limit applies)."""
        return self.lease.headers

    async def rest(self) -> AsyncIterator[router_pb2.ChatEvent]:
        """The events after the first, less the usage event (kept in `usage`); a
        broken router stream raises AioRpcError."""
        while True:
            event = await self.call.read()
            if event is grpc.aio.EOF:
                return
            if event.WhichOneof("event") == "usage":
                self.usage = event.usage
                continue
            yield event

    async def drain(self) -> None:
        """Let the router finish (it records usage as it ends) rather than cancel it."""
        try:
            async for _ in self.rest():
                pass
        except grpc.aio.AioRpcError:
            pass

    def close(self) -> None:
        """Safe to call more than once. Settles the rate limits' tokens to the usage
        the router recorded (a call that ended without it keeps its estimate) and frees
        the concurrency slot."""
        if self.closed:
            return
        self.closed = True
        # Cancelling a finished call is a no-op; cancelling a live one stops the
        # router, which stops the upstream (the client went away).
        self.call.cancel()
        if self.usage is not None:
            self.lease.settle(self.usage.prompt_tokens + self.usage.completion_tokens)
        self.lease.release()

    async def aclose(self) -> None:
        """`close()`, then wait until the rate limits have the release, so the client's
        next call (to any replica) finds the slot free."""
        self.close()
        await self.lease.aclose()


def tokens_held(prompt_tokens: int, max_tokens: int, choices: int) -> int:
    """What a call takes from a tokens-per-minute limit before it runs: its prompt and
    the most it may generate, as OpenAI counts (no max_tokens: the prompt alone)."""
    return prompt_tokens + max_tokens * max(1, choices)


async def open_relay(
    deps: ChatDeps,
    request_id: str,
    caller: Caller,
    secret: str,
    raw: bytes,
    params: ChatParams,
    started_ms: int,
    span: trace.Span,
) -> Relay:
    """Route, reserve and start one chat call; ApiError when it cannot start. A
    non-streaming or failed call is complete when this returns."""
    route = await deps.models.get(params.model)
    if route is None:
        raise unknown_model(params.model)
    span.set_attributes(
        {
            "tollgate.project_id": caller.project_id,
            "tollgate.key_id": caller.key_id,
            "gen_ai.request.model": params.model,
            "tollgate.stream": params.stream,
        }
    )
    prompt_tokens = tokens.count_chat_prompt(params.messages, route.served_model, params.tools)
    # Rate limits before the budget: a limited call must not hold budget.
    lease = await deps.limits.acquire(
        caller, tokens_held(prompt_tokens, params.max_tokens, params.n), request_id
    )
    try:
        return await _start(
            deps, request_id, caller, secret, raw, params, started_ms, route, prompt_tokens, lease
        )
    except ApiError:
        lease.settle(0)  # nothing was served (a failed call already settled to its usage)
        await lease.aclose()
        raise
    except BaseException:
        lease.release()  # the client went away: keep the estimate, the upstream may have run
        raise


async def _start(
    deps: ChatDeps,
    request_id: str,
    caller: Caller,
    secret: str,
    raw: bytes,
    params: ChatParams,
    started_ms: int,
    route: Route,
    prompt_tokens: int,
    lease: Lease,
) -> Relay:
    await _authorize(deps, request_id, caller, secret, route, params, prompt_tokens)

    call = deps.router.ChatCompletion(
        router_pb2.ChatRequest(
            request_id=request_id,
            caller=common_pb2.Caller(
                project_id=caller.project_id, key_id=caller.key_id, end_user=params.user
            ),
            model=params.model,
            stream=params.stream,
            include_usage=params.include_usage,
            body=raw,
            prompt_tokens_estimate=prompt_tokens,
            started_at_unix_ms=started_ms,
        ),
        metadata=telemetry.outgoing_metadata(),
    )
    try:
        first = await call.read()
    except grpc.aio.AioRpcError as exc:
        call.cancel()
        # The router never answered, so it recorded nothing: free the reservation here.
        log.warning("router call %s failed: %s", request_id, exc.code())
        await release(deps, request_id)
        raise unavailable("router") from None
    if first is grpc.aio.EOF or first.WhichOneof("event") == "usage":
        await release(deps, request_id)
        raise unavailable("router")
    relay = Relay(request_id, first, call, lease)
    if relay.kind != "chunk":
        await relay.drain()
    if relay.kind == "error":
        relay.close()
        # The router's settlement frees the hold of every call it records. Release it
        # here only when nothing was billed (an unknown model, an upstream error before
        # any output): a call cut off after output (the call deadline) settles its
        # cost against the hold, so it must still be there.
        if not billed(relay.usage):
            await release(deps, request_id)
        raise error_from_event(first.error)
    return relay


def billed(usage: common_pb2.Usage | None) -> bool:
    return usage is not None and (usage.prompt_tokens > 0 or usage.completion_tokens > 0)


async def _sse(relay: Relay, span: trace.Span) -> AsyncIterator[bytes]:
    try:
        yield b"data: " + relay.first.chunk + b"\n\n"
        try:
            async for event in relay.rest():
                kind = event.WhichOneof("event")
                if kind == "chunk":
                    yield b"data: " + event.chunk + b"\n\n"
                elif kind == "error":
                    body = error_from_event(event.error).body()
                    yield b"data: " + json.dumps(body).encode() + b"\n\n"
                    return
        except grpc.aio.AioRpcError as exc:
            log.warning("router stream broke: %s", exc.code())
            body = ApiError(502, "The upstream stream broke.", type="api_error").body()
            yield b"data: " + json.dumps(body).encode() + b"\n\n"
            return
        await relay.aclose()
        yield b"data: [DONE]\n\n"
    finally:
        relay.close()
        span.end()


def traced(
    name: str, handler: Callable[[Request, str, trace.Span], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Run `handler` in a span named for the route; a streamed answer's span ends
    with its stream (the handler's stream generator ends it)."""

    async def run(request: Request) -> Response:
        request_id = "req_" + uuid.uuid4().hex
        span = TRACER.start_span(name, attributes={"tollgate.request_id": request_id})
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            response = await handler(request, request_id, span)
        except ApiError as exc:
            span.set_attribute("http.response.status_code", exc.status)
            span.end()
            raise
        except BaseException:
            span.end()
            raise
        finally:
            otel_context.detach(token)
        span.set_attribute("http.response.status_code", response.status_code)
        if not isinstance(response, StreamingResponse):
            span.end()
        return response

    return run


def chat_handler(deps: ChatDeps) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request, request_id: str, span: trace.Span) -> Response:
        started_ms = int(time.time() * 1000)
        secret = secret_from(request)
        caller = await deps.keys.resolve(secret)
        raw = await request.body()
        params = chat_params(parse_json(raw))
        relay = await open_relay(deps, request_id, caller, secret, raw, params, started_ms, span)
        headers = {"x-request-id": request_id, **relay.headers}
        if relay.kind == "response":
            await relay.aclose()
            return Response(relay.first.response, media_type="application/json", headers=headers)
        return StreamingResponse(
            _sse(relay, span),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )

    return traced("POST /v1/chat/completions", handle)
