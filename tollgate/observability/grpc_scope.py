"""Every gRPC call between the services carries its trace, and every line a service
logs while handling one carries its request id.

Clients: `with_trace` adds the current trace context (`traceparent`) to a call's
metadata, unless the caller put one there itself; grpcutil's channels use it only when
the process traces. Servers: `Scoped` (sync) and `AioScoped` wrap each handler so it
runs with the request's `request_id` bound for the logs (tollgate/observability/logs.py)
and, in sync servers that trace, with the caller's trace context attached, so a span
the handler starts (and the gRPC calls it makes) joins the caller's trace.
`ScopeServerInterceptor` and `AioScopeServerInterceptor` apply them on their own;
grpcutil's servers apply them from the token interceptor, one interceptor for both.

A handler is wrapped once (the wrappers are kept per handler), and a call pays one
context-variable set and reset; the request itself is what is bound (its
`request_id` is read only when a line is logged).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeAlias

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate

from tollgate.grpc_metadata import Metadata
from tollgate.observability import tracing
from tollgate.observability.logs import HasRequestId, RequestId, bind, unbind

log = logging.getLogger(__name__)

TRACE_KEYS = ("traceparent", "tracestate")

Handler: TypeAlias = grpc.RpcMethodHandler | None
MAX_KEPT = 1024  # wrapped handlers kept per server: grpc hands out one per method


def with_trace(metadata: Metadata | None) -> Metadata | None:
    """`metadata` and the current trace context, for a call's metadata."""
    if not tracing.enabled():
        return metadata
    if any(key == "traceparent" for key, _ in metadata or ()):
        return metadata
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return metadata
    return (*(metadata or ()), *carrier.items())


# --- servers ------------------------------------------------------------------------

Identify = Callable[[Any], HasRequestId | None]


def _own_id(request: Any) -> HasRequestId:
    return request  # type: ignore[no-any-return]


def _looked_up_id(request: Any) -> HasRequestId:
    value = getattr(request, "request_id", None)
    return RequestId(value if isinstance(value, str) and value else None)


def _no_id(request: Any) -> None:
    return None


def _identify(handler: grpc.RpcMethodHandler) -> Identify:
    """How a request of `handler` names its call for the logs, decided once from its
    message type: itself when it has a string `request_id`, nothing when it has none,
    a look-up per call when its type is unknown (a handler without a deserializer)."""
    message = getattr(handler.request_deserializer, "__self__", None)
    descriptor = getattr(message, "DESCRIPTOR", None)
    fields = getattr(descriptor, "fields_by_name", None)
    if fields is None:
        return _looked_up_id
    field = fields.get("request_id")
    if field is None:
        return _no_id
    repeated = getattr(field, "is_repeated", False)
    return _own_id if field.type == field.TYPE_STRING and not repeated else _looked_up_id


def _sync_unary(behavior: Callable[..., Any], identify: Identify) -> Callable[..., Any]:
    def run(request: Any, context: grpc.ServicerContext) -> Any:
        if tracing.enabled():
            return _traced(behavior, identify, request, context)
        bound = bind(identify(request))
        try:
            return behavior(request, context)
        finally:
            unbind(bound)

    return run


def _traced(
    behavior: Callable[..., Any], identify: Identify, request: Any, context: grpc.ServicerContext
) -> Any:
    attached = otel_context.attach(tracing.incoming_context(context.invocation_metadata()))
    bound = bind(identify(request))
    try:
        return behavior(request, context)
    finally:
        unbind(bound)
        otel_context.detach(attached)


def _sync_stream(
    behavior: Callable[..., Iterator[Any]], identify: Identify
) -> Callable[..., Iterator[Any]]:
    def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        bound = bind(identify(request))
        try:
            yield from behavior(request, context)
        finally:
            unbind(bound)

    return run


def _aio_unary(
    behavior: Callable[..., Awaitable[Any]], identify: Identify
) -> Callable[..., Awaitable[Any]]:
    async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        bound = bind(identify(request))
        try:
            return await behavior(request, context)
        finally:
            unbind(bound)

    return run


def _aio_stream(
    behavior: Callable[..., AsyncIterator[Any]], identify: Identify
) -> Callable[..., AsyncIterator[Any]]:
    async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        # One task drives a response stream from start to end, so the binding holds
        # across its yields.
        bound = bind(identify(request))
        try:
            async for item in behavior(request, context):
                yield item
        finally:
            unbind(bound)

    return run


class Scoped:
    """Wraps a sync server's handlers (the request id for the logs, the caller's trace
    context); each handler once."""

    _unary = staticmethod(_sync_unary)
    _stream = staticmethod(_sync_stream)

    def __init__(self) -> None:
        self._done: dict[int, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def __call__(self, handler: Handler) -> Handler:
        if handler is None or handler.request_streaming:
            return handler
        done = self._done.get(id(handler))
        if done is not None and done[0] is handler:
            return done[1]
        identify = _identify(handler)
        if handler.response_streaming:
            wrapped = handler._replace(unary_stream=self._stream(handler.unary_stream, identify))  # type: ignore[attr-defined]
        else:
            wrapped = handler._replace(unary_unary=self._unary(handler.unary_unary, identify))  # type: ignore[attr-defined]
        if len(self._done) >= MAX_KEPT:  # a generic handler that makes one a call
            self._done.clear()
        self._done[id(handler)] = (handler, wrapped)  # holds `handler`, so its id stays its
        return wrapped  # type: ignore[no-any-return]


class AioScoped(Scoped):
    """Wraps an aio server's handlers (the request id for the logs; the handlers attach
    their own trace context: see services/router/server.py)."""

    _unary = staticmethod(_aio_unary)  # type: ignore[assignment]
    _stream = staticmethod(_aio_stream)  # type: ignore[assignment]


class ScopeServerInterceptor(grpc.ServerInterceptor):
    """For sync servers: the request id for the logs, the caller's trace context."""

    def __init__(self) -> None:
        self._scoped = Scoped()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        return self._scoped(continuation(details))


class AioScopeServerInterceptor(grpc.aio.ServerInterceptor):
    """For aio servers: the request id for the logs."""

    def __init__(self) -> None:
        self._scoped = AioScoped()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        return self._scoped(await continuation(details))
