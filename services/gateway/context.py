"""One client call as the gateway carries it down the request path.

    run = traced("POST /v1/chat/completions", handle)   # a request id, a span, a clock
    ...
    ctx = CallContext.admitted(started, await deps.gate.admit(request), cache_mode=...)

`traced` starts every front door's call: its request id (the one `RequestIds` gave
the request, which its answer carries), its span (a streamed
answer's span ends with its stream) and the time it started. `CallContext` is that,
plus who is calling and what the request's headers asked: the one object the relay,
the steering and the budget reservation read, instead of the same values passed
down as positional arguments."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.gateway.caller import Caller
from services.gateway.errors import ApiError
from services.gateway.gate import Admitted
from services.gateway.observe import note_model
from services.gateway.policy import NO_WISH, Wish
from services.gateway.request_id import request_id_of
from tollgate import telemetry
from tollgate.v1 import common_pb2

TRACER = telemetry.tracer(__name__)


@dataclass(frozen=True)
class Started:
    """A call as it reaches a front door, before anything about it is known."""

    request_id: str
    span: trace.Span
    started_ms: int  # Unix milliseconds: the call's start in the ledger


@dataclass(frozen=True)
class CallContext:
    request_id: str
    span: trace.Span
    started_ms: int
    caller: Caller
    secret: str  # the key as presented (forgotten by the key cache when Budget revokes it)
    cache_mode: common_pb2.CacheMode = common_pb2.CACHE_MODE_DEFAULT
    wish: Wish = NO_WISH  # the policy headers: priority, task, compaction

    @classmethod
    def admitted(
        cls,
        started: Started,
        admitted: Admitted,
        *,
        cache_mode: common_pb2.CacheMode = common_pb2.CACHE_MODE_DEFAULT,
        wish: Wish = NO_WISH,
    ) -> CallContext:
        return cls(
            started.request_id,
            started.span,
            started.started_ms,
            admitted.caller,
            admitted.secret,
            cache_mode=cache_mode,
            wish=wish,
        )

    def describe(self, model: str, *, stream: bool | None = None) -> None:
        """Name the caller and the model asked in the call's span."""
        attributes: dict[str, str | bool] = {
            "tollgate.project_id": self.caller.project_id,
            "tollgate.key_id": self.caller.key_id,
            "gen_ai.request.model": model,
        }
        if stream is not None:
            attributes["tollgate.stream"] = stream
        self.span.set_attributes(attributes)
        note_model(model)


FrontDoor = Callable[[Request, Started], Awaitable[Response]]


def traced(name: str, handler: FrontDoor) -> Callable[[Request], Awaitable[Response]]:
    """Run `handler` in a span named for the route; a streamed answer's span ends
    with its stream (the handler's stream generator ends it)."""

    async def run(request: Request) -> Response:
        request_id = request_id_of(request)
        span = TRACER.start_span(name, attributes={"tollgate.request_id": request_id})
        token = otel_context.attach(trace.set_span_in_context(span))
        started = Started(request_id, span, int(time.time() * 1000))
        try:
            response = await handler(request, started)
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
