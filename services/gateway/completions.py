"""POST /v1/completions: OpenAI's legacy completions API, a translated front door.

Each prompt is translated to a chat call (`completions_format`) and runs the path
every chat call takes (`relay.open_relay`): the gate, rate limits, budget
reservation, routing to any configured model, and the router's usage record. The
answers are translated back into one completion; its usage is the sum of what the
router recorded for each call, which is what the ledger bills.

A list of prompts is one chat call a prompt, one after another (so a key with a
concurrency limit of one can still send a list). The first call carries the request's
id (the `x-request-id` header and the completion's id); prompt i > 0 is recorded
under `<request id>-<i>`. A call that cannot start answers its error: for a stream
once the answer has begun, as an error event. The router's `API_COMPLETIONS` is not
used: every upstream is called in chat format."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from services.gateway.cache_header import requested_cache_mode
from services.gateway.completions_format import (
    JSON,
    CompletionRequest,
    Usage,
    choice,
    choices_of,
    chunk_choices,
    completion_id,
    envelope,
    parse_completion,
)
from services.gateway.context import CallContext, Started, traced
from services.gateway.cost_header import Quote, relay_quote, sum_headers
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
from services.gateway.router_json import router_object
from services.gateway.validation import off_loop, parse_json, read_body

log = logging.getLogger(__name__)


def _event(body: JSON) -> bytes:
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


def _count_usage(usage: Usage, relay: Relay, reported: Any) -> None:
    """What the router recorded for the call (what the ledger bills), else the
    upstream's own report."""
    if relay.usage is not None:
        usage.add(relay.usage.prompt_tokens, relay.usage.completion_tokens)
    else:
        usage.add_reported(reported)


async def _chunks_of(relay: Relay) -> AsyncGenerator[bytes, None]:
    """A streamed call's chunks, first to last; an ApiError for an error in the stream."""
    yield relay.first.chunk
    try:
        async for event in relay.rest():
            kind = kind_of(event)
            if kind is EventKind.CHUNK:
                yield event.chunk
            elif kind is EventKind.ERROR:
                raise error_from_event(event.error)
    except grpc.aio.AioRpcError as exc:
        log.warning("router stream broke: %s", exc.code())
        raise ApiError(502, "The upstream stream broke.", type="api_error") from None


def _prompt_context(ctx: CallContext, index: int) -> CallContext:
    if index == 0:
        return ctx
    return dataclasses.replace(ctx, request_id=f"{ctx.request_id}-{index}")


class _Call:
    """One completions request: its prompts' chat calls, one after another."""

    def __init__(self, deps: Deps, ctx: CallContext, request: CompletionRequest) -> None:
        self.deps = deps
        self.ctx = ctx
        self.request = request
        self.id = completion_id(ctx.request_id)
        self.usage = Usage()
        self.model = request.model
        self.created = int(time.time())
        self.broken = False  # a stream that ended in an error event
        self.cost_headers: dict[str, str] = {}  # x-tollgate-cost, once answered whole

    async def open(self, index: int) -> Relay:
        return await open_relay(
            self.deps, _prompt_context(self.ctx, index), self.request.bodies[index]
        )

    def echoed(self, index: int) -> str | None:
        return self.request.prompts[index] if self.request.echo else None

    async def answer(self, first: Relay) -> JSON:
        choices: list[JSON] = []
        created = self.created
        quotes: list[Quote | None] = []
        for index in range(len(self.request.prompts)):
            relay = first if index == 0 else await self.open(index)
            await relay.aclose()
            quotes.append(await relay_quote(self.deps.costs, self.ctx.caller, relay))
            answer = router_object(relay.first.response)
            if index == 0:
                served = answer.get("model")
                self.model = served if isinstance(served, str) and served else self.model
                given = answer.get("created")
                created = given if isinstance(given, int) and given > 0 else created
            choices += choices_of(answer, index * self.request.n, self.echoed(index))
            _count_usage(self.usage, relay, answer.get("usage"))
        self.cost_headers = sum_headers(quotes)  # the sum of the prompts' ledger rows
        reply = envelope(self.id, self.model, created)
        return {**reply, "choices": choices, "usage": self.usage.as_json()}

    async def stream(self, first: Relay, span: trace.Span) -> AsyncIterator[bytes]:
        try:
            for index in range(len(self.request.prompts)):
                try:
                    relay = first if index == 0 else await self.open(index)
                except ApiError as exc:
                    yield _event(exc.body())
                    return
                try:
                    async for part in self._relayed(relay, index):
                        yield part
                finally:
                    relay.close()
                if self.broken:
                    return
            if self.request.include_usage:
                usage = {"choices": [], "usage": self.usage.as_json()}
                yield _event({**envelope(self.id, self.model, self.created), **usage})
            yield b"data: [DONE]\n\n"
        finally:
            first.close()
            span.end()

    async def _relayed(self, relay: Relay, index: int) -> AsyncIterator[bytes]:
        """One prompt's stream as completion chunks; `broken` when it ended in an error
        (its error event is then the stream's last)."""
        base = index * self.request.n
        echoed = self.echoed(index)
        if echoed is not None:
            for j in range(self.request.n):
                yield self._chunk([choice(base + j, echoed, None)])
        reported: Any = None
        try:
            async with contextlib.aclosing(_chunks_of(relay)) as chunks:
                async for raw in chunks:
                    data = router_object(raw)
                    reported = data.get("usage") or reported
                    served = data.get("model")
                    if index == 0 and isinstance(served, str) and served:
                        self.model = served
                    found = chunk_choices(data, base)
                    if found:
                        yield self._chunk(found)
        except ApiError as exc:
            self.broken = True
            yield _event(exc.body())
            return
        await relay.aclose()
        _count_usage(self.usage, relay, reported)

    def _chunk(self, choices: list[JSON]) -> bytes:
        return _event({**envelope(self.id, self.model, self.created), "choices": choices})


async def _create(deps: Deps, request: Request, started: Started) -> Response:
    admitted = await deps.gate.admit(request)
    ctx = CallContext.admitted(
        started, admitted, cache_mode=requested_cache_mode(request), wish=requested(request)
    )
    raw = await read_body(request)
    asked = await off_loop(len(raw), lambda: parse_completion(parse_json(raw)))
    call = _Call(deps, ctx, asked)
    first = await call.open(0)
    headers = dict(first.headers)
    if first.cache_hit:
        headers["x-tollgate-cache"] = "hit"
    if first.kind is EventKind.RESPONSE:
        reply = await call.answer(first)
        return JSONResponse(reply, headers={**headers, **call.cost_headers})
    return StreamingResponse(
        call.stream(first, ctx.span),
        media_type="text/event-stream",
        headers={**headers, **SSE_HEADERS},
    )


def completions_handler(deps: Deps) -> Callable[[Request], Awaitable[Response]]:
    return traced("POST /v1/completions", lambda request, started: _create(deps, request, started))
