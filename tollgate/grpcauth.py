"""The internal credential on the wire: clients present it on every call (a
metadata-adding channel, grpc_metadata.py), and server interceptors refuse, with
UNAUTHENTICATED, every call without it, before the service's handler runs (so a
refused call reads and writes nothing).

The gRPC health service stays open: probes and `tollgate health` carry no credential.
The token travels as `authorization: Bearer <token>`; the comparison takes constant
time, and neither the token nor what a caller sent is ever logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from tollgate.grpc_metadata import Metadata

log = logging.getLogger(__name__)

METADATA_KEY = "authorization"
SCHEME = "Bearer "
OPEN_SERVICES = ("/grpc.health.v1.Health/",)
REFUSED = "this service answers only tollgate's services: no valid internal credential"

Handler: TypeAlias = grpc.RpcMethodHandler | None
Then = Callable[[Handler], Handler]


# --- clients ------------------------------------------------------------------------


class TokenMetadata:
    """Adds the credential to a call's metadata (replacing any the caller set), for a
    grpc_metadata channel; its repr never shows the token."""

    __slots__ = ("_only",)

    def __init__(self, token: str) -> None:
        self._only: tuple[tuple[str, str], ...] = ((METADATA_KEY, SCHEME + token),)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=***)"

    def __call__(self, metadata: Metadata | None) -> Metadata:
        if not metadata:
            return self._only
        return (*(item for item in metadata if item[0] != METADATA_KEY), *self._only)


# --- servers ------------------------------------------------------------------------


class _Gate:
    def __init__(self, token: str) -> None:
        self._expected = (SCHEME + token).encode()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=***)"

    def admits(self, details: grpc.HandlerCallDetails) -> bool:
        for key, value in details.invocation_metadata or ():
            if key == METADATA_KEY:
                given = value if isinstance(value, bytes) else value.encode("utf-8", "replace")
                if hmac.compare_digest(given, self._expected):
                    return True
                break
        method = details.method or ""
        if method.startswith(OPEN_SERVICES):
            return True
        log.warning("refused %s: no valid internal credential", method)
        return False


def _refusal(handler: grpc.RpcMethodHandler | None, deny: Callable[..., Any]) -> Any:
    """A handler of the same shape as `handler` that only refuses."""
    if handler is None or not (handler.request_streaming or handler.response_streaming):
        return grpc.unary_unary_rpc_method_handler(deny)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    return grpc.unary_stream_rpc_method_handler(deny)


def _deny(request: Any, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED)


async def _deny_async(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED)


class TokenServerInterceptor(grpc.ServerInterceptor):
    """For sync servers (grpc.server(interceptors=...)). `then` (say, the log scope
    of observability/grpc_scope.py) wraps the handler of an admitted call: one
    interceptor where a chain of two would cost a second round per call."""

    def __init__(self, token: str, then: Then | None = None) -> None:
        self._gate = _Gate(token)
        self._then = then

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=***)"

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = continuation(details)
        if not self._gate.admits(details):
            return _refusal(handler, _deny)
        return handler if self._then is None else self._then(handler)


class AioTokenServerInterceptor(grpc.aio.ServerInterceptor):
    """For aio servers (grpc.aio.server(interceptors=...)); `then` as for sync."""

    def __init__(self, token: str, then: Then | None = None) -> None:
        self._gate = _Gate(token)
        self._then = then

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=***)"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        if not self._gate.admits(details):
            return _refusal(handler, _deny_async)
        return handler if self._then is None else self._then(handler)
