"""The path every chat call takes, whichever front door it came in by (OpenAI chat
completions, Anthropic messages): steer, rate-limit, reserve, start the router call.

    relay = await open_relay(deps, ctx, body)   # ApiError when the call cannot start
    ...                                         # the front door formats relay.first and
    await relay.aclose()                        # relay.rest() in its own wire format

The router records usage with metering, so a client that goes away mid-stream still
leaves a ledger row; the relay only cancels the router call then. Budget's hold is
freed here only when the router recorded nothing (it never answered, or failed
before any output); every call it records is settled, which frees the hold."""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from services.gateway.caller import caller_proto
from services.gateway.chat_body import ChatBody
from services.gateway.context import CallContext
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, unavailable
from services.gateway.observe import note_model, note_served, note_usage
from services.gateway.ratelimit import Lease
from services.gateway.reserve import authorize, release
from services.gateway.steering import Steered, steer
from tollgate import telemetry
from tollgate.v1 import common_pb2, router_pb2

log = logging.getLogger(__name__)

# Every streamed answer's headers: no caching, no proxy buffering.
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class EventKind(enum.StrEnum):
    """What a router ChatEvent holds (its `event` oneof)."""

    SERVED = "served"  # what answered, before the first answer
    RESPONSE = "response"  # a whole non-streaming answer
    CHUNK = "chunk"  # one chunk of a stream
    ERROR = "error"
    USAGE = "usage"  # what the router recorded; never shown to the client
    NONE = ""


_KINDS = {kind.value: kind for kind in EventKind}


def kind_of(event: router_pb2.ChatEvent) -> EventKind:
    # A dict, not EventKind(...): the enum's lookup costs microseconds, every event.
    # A kind this gateway does not know yet is NONE: nothing to show.
    return _KINDS.get(event.WhichOneof("event") or "", EventKind.NONE)


def error_from_event(error: common_pb2.Error) -> ApiError:
    return ApiError(
        error.http_status or 502,
        error.message or "The upstream call failed.",
        type=error.type or "api_error",
        code=error.code or None,
        param=error.param or None,
    )


def billed(usage: common_pb2.Usage | None) -> bool:
    return usage is not None and (usage.prompt_tokens > 0 or usage.completion_tokens > 0)


def tokens_held(prompt_tokens: int, max_tokens: int, choices: int) -> int:
    """What a call takes from a tokens-per-minute limit before it runs: its prompt and
    the most it may generate, as OpenAI counts (no max_tokens: the prompt alone)."""
    return prompt_tokens + max_tokens * max(1, choices)


@dataclass
class Relay:
    """An authorized call the router has started answering: its first event, and the
    stream of the rest. Every front door formats the same events in its own wire
    format, and calls `close()` when done."""

    request_id: str
    first: router_pb2.ChatEvent
    stream: grpc.aio.UnaryStreamCall
    lease: Lease = field(default_factory=Lease)
    prompt_tokens: int = 0  # tollgate's count of the prompt, which the call reserved
    # What the router recorded, from its last event (never shown to the client).
    usage: common_pb2.Usage | None = None
    closed: bool = False
    # What served the call (the router's Served event, before the first answer).
    served: router_pb2.Served | None = None

    @property
    def kind(self) -> EventKind:
        return kind_of(self.first)

    @property
    def cache_hit(self) -> bool:
        return self.served is not None and self.served.cache_hit

    @property
    def headers(self) -> dict[str, str]:
        """The x-ratelimit-* headers for the response (none when no limit applies),
        and x-tollgate-model / x-tollgate-attempts naming what served it."""
        if self.served is None:
            return self.lease.headers
        served = {
            "x-tollgate-model": self.served.model,
            "x-tollgate-attempts": str(self.served.attempts),
        }
        return {**self.lease.headers, **served}

    async def rest(self) -> AsyncIterator[router_pb2.ChatEvent]:
        """The events after the first, less the usage event (kept in `usage`); a
        broken router stream raises AioRpcError."""
        while True:
            event = await self.stream.read()
            if event is grpc.aio.EOF:
                return
            if kind_of(event) is EventKind.USAGE:
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
        self.stream.cancel()
        note_usage(self.usage)
        if self.usage is not None:
            self.lease.settle(self.usage.prompt_tokens + self.usage.completion_tokens)
        self.lease.release()

    async def aclose(self) -> None:
        """`close()`, then wait until the rate limits have the release, so the client's
        next call (to any replica) finds the slot free."""
        self.close()
        await self.lease.aclose()


async def open_relay(deps: Deps, ctx: CallContext, body: ChatBody) -> Relay:
    """Route, reserve and start one chat call; ApiError when it cannot start. A
    non-streaming or failed call is complete when this returns."""
    note_model(body.params.model)  # the access line's model asked, even when refused
    steered = await steer(deps, ctx, body)
    ctx.describe(body.params.model, stream=body.params.stream)
    params = steered.params
    # Rate limits before the budget: a limited call must not hold budget.
    lease = await deps.limits.acquire(
        ctx.caller,
        tokens_held(steered.prompt_tokens, params.max_tokens, params.n),
        ctx.request_id,
    )
    try:
        return await _start(deps, ctx, steered, lease)
    except ApiError:
        lease.settle(0)  # nothing was served (a failed call already settled to its usage)
        await lease.aclose()
        raise
    except BaseException:
        lease.release()  # the client went away: keep the estimate, the upstream may have run
        raise


def _chat_request(ctx: CallContext, steered: Steered, downgraded: bool) -> router_pb2.ChatRequest:
    plan = steered.plan.downgraded() if downgraded else steered.plan
    params = steered.params
    return router_pb2.ChatRequest(
        request_id=ctx.request_id,
        caller=caller_proto(ctx.caller, params.user),
        stream=params.stream,
        include_usage=params.include_usage,
        body=steered.body.raw,
        prompt_tokens_estimate=steered.prompt_tokens,
        started_at_unix_ms=ctx.started_ms,
        cache_mode=ctx.cache_mode,
        compacted_tokens=steered.compacted_tokens,
        api=steered.body.api,
        **plan.request_fields(),
    )


async def _start(deps: Deps, ctx: CallContext, steered: Steered, lease: Lease) -> Relay:
    request_id = ctx.request_id
    downgraded = await authorize(deps, ctx, steered.hold())
    stream = deps.router.ChatCompletion(
        _chat_request(ctx, steered, downgraded), metadata=telemetry.outgoing_metadata()
    )
    try:
        first = await stream.read()
    except grpc.aio.AioRpcError as exc:
        stream.cancel()
        # The router never answered, so it recorded nothing: free the reservation here.
        log.warning("router call %s failed: %s", request_id, exc.code())
        await release(deps, request_id)
        raise unavailable("router") from None
    served: router_pb2.Served | None = None
    if first is not grpc.aio.EOF and kind_of(first) is EventKind.SERVED:
        served = first.served
        note_served(served)
        try:
            first = await stream.read()
        except grpc.aio.AioRpcError as exc:
            stream.cancel()  # the router records the call as it ends; its settlement frees the hold
            log.warning("router call %s failed after it started: %s", request_id, exc.code())
            raise unavailable("router") from None
    if first is grpc.aio.EOF or kind_of(first) is EventKind.USAGE:
        await release(deps, request_id)
        raise unavailable("router")
    relay = Relay(
        request_id, first, stream, lease, prompt_tokens=steered.prompt_tokens, served=served
    )
    if relay.kind is not EventKind.CHUNK:
        await relay.drain()
    if relay.kind is EventKind.ERROR:
        relay.close()
        # The router's settlement frees the hold of every call it records. Release it
        # here only when nothing was billed (an unknown model, an upstream error before
        # any output): a call cut off after output (the call deadline) settles its
        # cost against the hold, so it must still be there.
        if not billed(relay.usage):
            await release(deps, request_id)
        raise error_from_event(first.error)
    return relay
