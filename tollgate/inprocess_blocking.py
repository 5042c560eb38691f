"""Calls between blocking services hosted in one process, without the network.

`tollgate serve back` hosts Budget and Metering, each a blocking gRPC server in a
thread of its own, and Metering calls Budget for every batch it records
(`SettleBatch`). Over gRPC, a blocking call and its answer cost about 0.6 ms of CPU
between client and server (their threads hand the call over four times) before any
work: at one call at a time, more than a quarter of what the whole suite spends a call.

As inprocess.py does for services on one event loop: a host names the addresses it
serves with `inprocess.expect(addr, service)` before it starts them; `run_sync_server`
(grpcutil.py) keeps each service's unary-unary handlers once its server serves
(`register`), and `channel` gives a channel to such an address whose unary-unary
calls run those handlers in the caller's thread: the request through the method's
serializer and the handler's deserializer, the answer back the same way (bytes in
between, so caller and callee share no object), the handler wrapped as the server
wraps it (the log scope; the token check is left out: same process, same trust).
Everything else (streams, a service not registered yet or stopped) goes to the real
server over gRPC.

What a caller sees is what a blocking gRPC call gives it: the answer, or a
`grpc.RpcError` with `code()` and `details()`: an abort's, or UNKNOWN for an
exception in the handler. A timeout is not enforced: the handler runs to its end, as
it would on the server, which does not stop a handler at its deadline either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from tollgate import inprocess
from tollgate.inprocess_call import deserialized, serialized
from tollgate.observability.grpc_scope import Scoped

log = logging.getLogger(__name__)

_handlers: dict[str, dict[str, grpc.RpcMethodHandler]] = {}  # service -> method -> handler
_lock = threading.Lock()


def register(service: str, adders: Sequence[Callable[[Any], None]]) -> None:
    """Keep `service`'s blocking unary-unary handlers for in-process calls, when this
    process expects to host it."""
    if not inprocess.expects(service):
        return
    capture = inprocess.Capture()
    for add in adders:
        add(capture)
    scoped = Scoped()
    kept = {
        method: scoped(handler)
        for method, handler in capture.handlers.items()
        if not handler.request_streaming and not handler.response_streaming
    }
    with _lock:
        _handlers[service] = kept  # type: ignore[assignment]
    log.info("%s answers this process's callers in process (%s=0: gRPC)", service, inprocess.ENV)


def unregister(service: str) -> None:
    with _lock:
        _handlers.pop(service, None)


def forget() -> None:
    with _lock:
        _handlers.clear()


def channel(addr: str, real: grpc.Channel) -> grpc.Channel:
    """`real`, or a channel that calls in process when `addr` is served here."""
    service = inprocess.service_at(addr)
    return real if service is None else BlockingInProcessChannel(service, real)


class InProcessRpcError(grpc.RpcError):
    """A failed in-process call, as grpc's blocking calls raise it."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[Any, ...] = ()) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[Any, ...]:
        return self._trailing

    def initial_metadata(self) -> tuple[Any, ...]:
        return ()

    def debug_error_string(self) -> str:
        return f"in-process: {self._code.name}: {self._details}"


class _Aborted(Exception):
    """Raised by Context.abort to end the handler, as grpc's own abort does."""


class Context:
    """The handler's side of an in-process call: what grpc.ServicerContext offers that
    a unary handler uses."""

    def __init__(self, metadata: Any, timeout: float | None) -> None:
        self._metadata = tuple(metadata or ())
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.trailing: tuple[Any, ...] = ()

    def invocation_metadata(self) -> tuple[Any, ...]:
        return self._metadata

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        if code == grpc.StatusCode.OK:
            raise ValueError("abort() with status OK")
        self.code, self.details = code, details
        raise _Aborted(details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = tuple(metadata or ())

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def is_active(self) -> bool:
        return True

    def peer(self) -> str:
        return "in-process"


class _UnaryUnary(inprocess.Method):
    """A unary-unary method of a BlockingInProcessChannel."""

    def __call__(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        **kw: Any,  # credentials, wait_for_ready, compression: nothing to do here
    ) -> Any:
        handler = _handlers.get(self._service, {}).get(self._method)
        if handler is None:
            return self._real(request, timeout=timeout, metadata=metadata, **kw)
        context = Context(metadata, timeout)
        try:
            received = deserialized(
                handler.request_deserializer, serialized(self._serialize, request)
            )
            answer = handler.unary_unary(received, context)
        except _Aborted:
            assert context.code is not None
            raise InProcessRpcError(context.code, context.details, context.trailing) from None
        except Exception as exc:
            log.exception("in-process call of %s failed", self._method)
            raise InProcessRpcError(
                grpc.StatusCode.UNKNOWN, f"Exception calling application: {exc}"
            ) from None
        if context.code is not None and context.code != grpc.StatusCode.OK:
            raise InProcessRpcError(context.code, context.details, context.trailing)
        return deserialized(self._deserialize, serialized(handler.response_serializer, answer))

    def with_call(self, request: Any, **kw: Any) -> Any:
        return self._real.with_call(request, **kw)

    def future(self, request: Any, **kw: Any) -> Any:
        return self._real.future(request, **kw)


class BlockingInProcessChannel(grpc.Channel):
    """A channel to a blocking service hosted in this process: its unary-unary calls in
    process when it is registered (see the module's docstring), all else through `real`."""

    def __init__(self, service: str, real: grpc.Channel) -> None:
        self._service = service
        self._real = real

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        real = self._real.unary_unary(method, *args, **kwargs)
        return _UnaryUnary(self._service, method, real, *inprocess.serializers(args, kwargs))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.unary_stream(method, *args, **kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.stream_stream(method, *args, **kwargs)

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        self._real.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Any) -> None:
        self._real.unsubscribe(callback)

    def close(self) -> None:
        self._real.close()

    def __enter__(self) -> BlockingInProcessChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()
