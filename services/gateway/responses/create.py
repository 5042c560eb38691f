"""POST /v1/responses: one Responses API call, on the path every chat call takes.

    answer = await create_response(deps, ctx, raw)   # ApiError when it cannot start
    answer.json      # a whole response object (None for a stream)
    answer.events    # a stream's server-sent events (None for a whole response)

The request is checked at the door and `previous_response_id` is looked up in the
caller's own project (400 `previous_response_not_found` otherwise). For a model
whose every candidate's provider speaks the Responses API (`Route.native_apis`),
the body passes through (passthrough.py); for every other model it is translated
to a chat completion (request.py), run through `open_relay` (policy, rate limits,
budget hold, router, usage record) and translated back (reply.py, stream.py). With
`store` (the default) the response and the conversation it answered are kept by
the router's ResponseStore, before the client sees the end of the answer, so a
continuation sent at once finds it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from opentelemetry import trace

from services.gateway.chat_body import ChatBody, encode
from services.gateway.context import CallContext
from services.gateway.cost_header import relay_cost_headers
from services.gateway.deps import Deps
from services.gateway.relay import EventKind, Relay, error_from_event, kind_of, open_relay
from services.gateway.responses.call import (
    Answer,
    Request,
    checked,
    relay_headers,
)
from services.gateway.responses.passthrough import pass_through
from services.gateway.responses.reply import (
    Shell,
    hex_of,
    response,
    response_id,
    served_model,
    usage_from_proto,
    usage_of,
)
from services.gateway.responses.request import JSON, chat_request, items
from services.gateway.responses.store import ResponseStore
from services.gateway.responses.stream import StreamTranslator, sse
from services.gateway.router_json import generated_texts, router_object
from services.gateway.validation import chat_params, off_loop
from tollgate import tokens

log = logging.getLogger(__name__)

RESPONSES_API = "responses"


async def create_response(deps: Deps, ctx: CallContext, raw: bytes) -> Answer:
    """Run one Responses API call for an admitted caller; ApiError when it cannot start."""
    request = await checked(deps, ctx, raw)
    route = await deps.models.get(request.options.model)
    if route is not None and RESPONSES_API in route.native_apis:
        return await pass_through(deps, ctx, request)
    return await _translated(deps, ctx, request)


def _chat_body(request: Request) -> tuple[ChatBody, list[JSON]]:
    conversation = request.conversation(items(request.body))
    chat = chat_request(request.body, request.options, conversation)
    return ChatBody(chat, encode(chat), chat_params(chat)), conversation


@dataclass
class _Translation:
    """What a translated call needs from its start to its stored end."""

    deps: Deps
    ctx: CallContext
    request: Request
    conversation: list[JSON]
    relay: Relay
    shell: Shell
    model: str  # what the router says served, for counting an estimate

    def fallback_usage(self, generated: list[str]) -> JSON:
        """What the router recorded, when it said so; else tollgate's estimate."""
        if self.relay.usage is not None:
            return usage_from_proto(self.relay.usage)
        output = tokens.count_text("".join(generated), self.model)
        return usage_of(self.relay.prompt_tokens, output, 0, 0, 0)

    async def keep(self, reply: JSON) -> None:
        if self.request.options.store:
            store = ResponseStore(self.deps.responses)
            await store.put(self.ctx.caller.project_id, reply, self.conversation)


async def _translated(deps: Deps, ctx: CallContext, request: Request) -> Answer:
    chat, conversation = await off_loop(len(request.raw), _chat_body, request)
    relay = await open_relay(deps, ctx, chat)
    served = relay.served.model if relay.served is not None else request.options.model
    shell = Shell(
        response_id(ctx.request_id), hex_of(ctx.request_id), request.options, request.body
    )
    call = _Translation(deps, ctx, request, conversation, relay, shell, served)
    headers = relay_headers(ctx, relay)
    if relay.kind is EventKind.RESPONSE:
        await relay.aclose()
        headers.update(await relay_cost_headers(deps.costs, ctx.caller, relay))
        completion = router_object(relay.first.response)
        reply = response(shell, completion, call.fallback_usage(generated_texts(completion)))
        await call.keep(reply)
        return Answer(headers, json=reply)
    return Answer(headers, events=_stream(call, StreamTranslator(shell), ctx.span))


async def _stream(
    call: _Translation, translator: StreamTranslator, span: trace.Span
) -> AsyncIterator[bytes]:
    relay = call.relay
    try:
        first = router_object(relay.first.chunk)
        for event in translator.start(served_model(first, call.request.options.model)):
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
                    error = error_from_event(item.error)
                    for event in translator.fail(error.message, error.code):
                        yield sse(event)
                    return
        except grpc.aio.AioRpcError as exc:
            log.warning("router stream broke: %s", exc.code())
            for event in translator.fail("The upstream stream broke.", "server_error"):
                yield sse(event)
            return
        events = translator.finish(call.fallback_usage(translator.generated))
        await call.keep(events[-1]["response"])
        for event in events:
            yield sse(event)
    finally:
        relay.close()
        span.end()
