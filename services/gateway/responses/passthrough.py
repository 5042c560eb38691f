"""A Responses API call passed through to an upstream that speaks it natively.

The body goes to the router as the client sent it, with `ChatRequest.api =
API_RESPONSES`; the router posts it to the upstream's `/responses`, reads the usage
in the Responses format and records it as for chat. The answer comes back as the
upstream sent it (a stream: its events, each with its `event:` line again).

The gateway still holds the call to its policy, rate limits and budget, counting
the prompt from the input (a rough count: the text of every input item), and
still keeps which project owns each response id (when `store` is on), so a
`previous_response_id` the project does not own is refused before the upstream
sees it. One the upstream holds (a passed-through response) is passed on; one
tollgate translated is expanded into the input (history, then the new items)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace

from services.gateway.chat_body import ChatBody, encode
from services.gateway.context import CallContext
from services.gateway.cost_header import relay_cost_headers
from services.gateway.deps import Deps
from services.gateway.errors import bad_request
from services.gateway.relay import EventKind, Relay, error_from_event, kind_of, open_relay
from services.gateway.responses.call import Answer, Request, relay_headers
from services.gateway.responses.request import JSON
from services.gateway.responses.store import ResponseStore
from services.gateway.router_json import router_object
from services.gateway.validation import ChatParams, off_loop, text
from tollgate.v1 import router_pb2

FINAL_EVENTS = ("response.completed", "response.incomplete")


@dataclass(frozen=True)
class PassedBody(ChatBody):
    """A Responses API body on the chat path: a policy's `max_tokens` cap is its
    `max_output_tokens`; prompt compaction leaves its input as it is."""

    api: router_pb2.Api = router_pb2.API_RESPONSES

    def rewritten(self, changes: JSON, params: ChatParams) -> ChatBody:
        passed = {}
        if "max_tokens" in changes:
            passed["max_output_tokens"] = changes["max_tokens"]
        fields = {**self.fields, **passed}
        return PassedBody(fields, encode(fields), params)


def _new_items(body: JSON) -> list[JSON]:
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list) or not all(isinstance(item, dict) for item in given):
        raise bad_request(
            "'input' must be a string or a list of input item objects.", param="input"
        )
    return given


def _without_ids(item: JSON) -> JSON:
    """A stored item as input to an upstream that never saw its tollgate id."""
    return {key: value for key, value in item.items() if key != "id"}


def _counted_messages(body: JSON, conversation: list[JSON]) -> list[JSON]:
    """Chat messages that hold the call's text, only to count its prompt."""
    parts: list[Any] = [conversation, body.get("tools") or []]
    if isinstance(body.get("instructions"), str):
        parts.insert(0, body["instructions"])
    return [{"role": "user", "content": json.dumps(parts, ensure_ascii=False)}]


def _passed_body(request: Request) -> tuple[PassedBody, list[JSON]]:
    body = dict(request.body)
    new_items = _new_items(body)
    conversation = request.conversation(new_items)
    history = request.history
    raw = request.raw  # the client's bytes, unless the history is expanded into them
    if history is not None and not history.upstream_held:
        body["input"] = [_without_ids(item) for item in conversation]
        del body["previous_response_id"]
        raw = encode(body)
    options = request.options
    params = ChatParams(
        model=options.model,
        messages=_counted_messages(body, conversation),
        tools=None,
        stream=options.stream,
        include_usage=False,
        max_tokens=options.max_output_tokens,
        n=1,
        user=text(body.get("user"), "user"),
    )
    return PassedBody(body, raw, params), conversation


@dataclass
class _Passed:
    deps: Deps
    ctx: CallContext
    options_store: bool
    conversation: list[JSON]

    async def keep(self, reply: Any) -> None:
        """Keep the response, and that this project owns its id."""
        if self.options_store and isinstance(reply, dict) and reply.get("store", True):
            store = ResponseStore(self.deps.responses)
            await store.put(
                self.ctx.caller.project_id, reply, self.conversation, upstream_held=True
            )


async def pass_through(deps: Deps, ctx: CallContext, request: Request) -> Answer:
    passed, conversation = await off_loop(len(request.raw), _passed_body, request)
    relay = await open_relay(deps, ctx, passed)
    call = _Passed(deps, ctx, request.options.store, conversation)
    headers = relay_headers(ctx, relay)
    if relay.kind is EventKind.RESPONSE:
        await relay.aclose()
        headers.update(await relay_cost_headers(deps.costs, ctx.caller, relay))
        raw = relay.first.response
        await call.keep(router_object(raw))
        return Answer(headers, raw=raw)
    return Answer(headers, events=_stream(call, relay, ctx.span))


def _event(data: bytes) -> tuple[bytes, JSON]:
    event = router_object(data)
    kind = event.get("type")
    name = kind if isinstance(kind, str) and kind.isprintable() else "message"
    # An upstream may spread one event's JSON over several data lines.
    lines = data.replace(b"\r\n", b"\n").replace(b"\n", b"\ndata: ")
    return f"event: {name}\ndata: ".encode() + lines + b"\n\n", event


def _error(message: str, code: str | None, sequence: int) -> bytes:
    event = {"type": "error", "code": code, "message": message, "param": None}
    data = json.dumps({**event, "sequence_number": sequence}).encode()
    return b"event: error\ndata: " + data + b"\n\n"


async def _stream(call: _Passed, relay: Relay, span: trace.Span) -> AsyncIterator[bytes]:
    sequence = 0
    try:
        pending = [relay.first.chunk]
        try:
            async for item in _chunks(relay, pending):
                if isinstance(item, bytes):
                    line, event = _event(item)
                    number = event.get("sequence_number")
                    sequence = number + 1 if isinstance(number, int) else sequence + 1
                    if event.get("type") in FINAL_EVENTS:
                        await call.keep(event.get("response"))
                    yield line
                else:
                    yield _error(item.message, item.code, sequence)
                    return
        except grpc.aio.AioRpcError:
            yield _error("The upstream stream broke.", "server_error", sequence)
    finally:
        relay.close()
        span.end()


async def _chunks(relay: Relay, pending: list[bytes]) -> AsyncIterator[Any]:
    """The stream's chunks (bytes), ending at an error (an ApiError)."""
    for chunk in pending:
        yield chunk
    async for item in relay.rest():
        kind = kind_of(item)
        if kind is EventKind.CHUNK:
            yield item.chunk
        elif kind is EventKind.ERROR:
            yield error_from_event(item.error)
            return
