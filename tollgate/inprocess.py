"""Calls between services hosted on one event loop, without the network.

A host of several services (tollgate/cli/one_process.py) names the addresses it serves
with `expect(addr, service)` before it starts them. From then on `start_aio_server`
(grpcutil.py) also keeps the method handlers of that service (`register`), the very
ones the generated `add_*Servicer_to_server` hands its server, and `aio_channel` gives
a channel to that address whose unary-unary and unary-stream calls run those handlers
on the caller's event loop: the request goes through the method's serializer and the
handler's deserializer, each response back the same way (bytes in between, so caller
and callee share no object), the handler runs in its own task feeding a queue, under
the log scope the server would give it (the token check is left out: same process,
same trust). The real server still serves the address for everyone else, and a call
made before the service registered, from another event loop, or of a client-streaming
method, goes to it over gRPC.

What a caller sees is what grpc.aio gives it: `read()` returns messages then
`grpc.aio.EOF`, async iteration, `cancel()` (False once the call has ended), errors as
`grpc.aio.AioRpcError` after the messages sent before them (an abort's code and
details; UNKNOWN for an exception; DEADLINE_EXCEEDED for a timeout), and the handler
sees the caller's metadata in `context.invocation_metadata()`. Cancelling a live call,
or the caller's task while it awaits the call, cancels the handler at its await, as
gRPC does; a handler that has ended is never cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from tollgate.inprocess_call import InProcessCall, serialized
from tollgate.observability.grpc_scope import AioScoped

log = logging.getLogger(__name__)

ENV = "TOLLGATE_IN_PROCESS_CALLS"  # "0": calls between co-hosted services use gRPC


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class _Service:
    """One hosted service's handlers, by full method name, and where they run."""

    loop: asyncio.AbstractEventLoop
    context: contextvars.Context  # the server's, as each gRPC handler task inherits it
    handlers: dict[str, grpc.RpcMethodHandler] = field(default_factory=dict)


_expected: dict[str, str] = {}  # address -> the service this process serves there
_services: dict[str, _Service] = {}  # service -> its handlers, once it has started


def expect(addr: str, service: str) -> None:
    """This process will serve `service` at `addr` (what its clients dial)."""
    _expected[addr] = service


def expects(service: str) -> bool:
    return service in _expected.values()


def service_at(addr: str) -> str | None:
    """The service this process hosts at `addr`, if it does."""
    return _expected.get(addr)


def forget() -> None:
    """No in-process calls any more (tests)."""
    _expected.clear()
    _services.clear()


class Capture:
    """What `add_*Servicer_to_server` calls on a server, keeping the handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, generic: Sequence[grpc.GenericRpcHandler]) -> None:
        for each in generic:
            self.handlers.update(getattr(each, "_method_handlers", {}))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        for method, handler in handlers.items():
            self.handlers[f"/{service}/{method}"] = handler


def register(service: str, adders: Sequence[Callable[[Any], None]]) -> None:
    """Keep `service`'s handlers for in-process calls (from its running event loop),
    when this process expects to host it; the unary and server-streaming async ones."""
    if not expects(service):
        return
    capture = Capture()
    for add in adders:
        add(capture)
    scoped = AioScoped()
    kept = _Service(asyncio.get_running_loop(), contextvars.copy_context())
    for method, handler in capture.handlers.items():
        if handler.request_streaming:
            continue
        if handler.response_streaming:
            runs_here = inspect.isasyncgenfunction(handler.unary_stream)
        else:
            runs_here = inspect.iscoroutinefunction(handler.unary_unary)
        if runs_here:
            kept.handlers[method] = scoped(handler)  # type: ignore[assignment]
    _services[service] = kept
    log.info("%s answers callers on its event loop in process (%s=0: over gRPC)", service, ENV)


def unregister(service: str) -> None:
    _services.pop(service, None)


def channel(addr: str, real: grpc.aio.Channel) -> grpc.aio.Channel:
    """`real`, or a channel that calls in process when `addr` is served here."""
    service = _expected.get(addr)
    return real if service is None else InProcessChannel(service, real)


def _handler(service: str, method: str) -> tuple[_Service, grpc.RpcMethodHandler] | None:
    kept = _services.get(service)
    if kept is None:
        return None
    handler = kept.handlers.get(method)
    if handler is None:
        return None
    try:
        if asyncio.get_running_loop() is not kept.loop:
            return None
    except RuntimeError:
        return None
    return kept, handler


class Method:
    """A method of an in-process channel: its service and name, the real channel's
    method for calls that cannot be made in process, and the caller's serializers."""

    def __init__(
        self,
        service: str,
        method: str,
        real: Any,
        request_serializer: Callable[[Any], bytes] | None,
        response_deserializer: Callable[[bytes], Any] | None,
    ) -> None:
        self._service = service
        self._method = method
        self._real = real
        self._serialize = request_serializer
        self._deserialize = response_deserializer


class _MultiCallable(Method):
    """A unary-unary or unary-stream method of an InProcessChannel."""

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Any = None,
        **kw: Any,  # credentials, wait_for_ready, compression: nothing to do here
    ) -> Any:
        found = _handler(self._service, self._method)
        if found is None:
            return self._real(request, timeout=timeout, metadata=metadata, **kw)
        kept, handler = found
        raw = serialized(self._serialize, request)
        return InProcessCall(
            kept.loop,
            kept.context.copy(),  # as each gRPC handler task inherits the server's
            handler,
            self._method,
            raw,
            self._deserialize,
            timeout,
            metadata,
        )


Serializers = tuple[Callable[[Any], bytes] | None, Callable[[bytes], Any] | None]


def serializers(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Serializers:
    """The request serializer and response deserializer a channel's `unary_unary` (or
    `unary_stream`) was given, by position or by name."""
    return (
        kwargs.get("request_serializer", args[0] if args else None),
        kwargs.get("response_deserializer", args[1] if len(args) > 1 else None),
    )


class InProcessChannel(grpc.aio.Channel):
    """A channel to a service hosted in this process: in process when it can be
    (see the module's docstring), else through `real`."""

    def __init__(self, service: str, real: grpc.aio.Channel) -> None:
        self._service = service
        self._real = real

    def _in_process(self, method: str, real: Any, *args: Any, **kwargs: Any) -> _MultiCallable:
        return _MultiCallable(self._service, method, real, *serializers(args, kwargs))

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        real = self._real.unary_unary(method, *args, **kwargs)
        return self._in_process(method, real, *args, **kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        real = self._real.unary_stream(method, *args, **kwargs)
        return self._in_process(method, real, *args, **kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.stream_stream(method, *args, **kwargs)

    async def close(self, grace: float | None = None) -> None:
        await self._real.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._real.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._real.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._real.channel_ready()

    async def __aenter__(self) -> InProcessChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._real.close(None)
