"""One in-process call (see inprocess.py): the handler's side, `Context`, what a
grpc.aio.ServicerContext offers a unary or server-streaming handler; and the caller's,
`InProcessCall`, what grpc.aio's UnaryStreamCall offers (and UnaryUnaryCall's awaiting).

The handler runs in a task of its own, in the context it is given, and puts each
response, serialized, in a queue the caller reads and parses. How the call ends is its
status, set once: by the handler's end (OK, an abort's code and details, UNKNOWN for an
exception), by the caller's cancel() or cancelled read (CANCELLED; the handler is
cancelled at its await), or by the deadline (DEADLINE_EXCEEDED; so is it). The caller
reads the messages sent before the status, then EOF or the error, as in grpc.aio.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import grpc

log = logging.getLogger(__name__)

CANCELLED_DETAILS = "Locally cancelled by application!"
DEADLINE_DETAILS = "Deadline Exceeded"


class Context:
    """The handler's side of an in-process call: what grpc.aio.ServicerContext offers
    that a unary or server-streaming handler uses."""

    def __init__(self, method: str, metadata: Any, deadline: float | None) -> None:
        self._method = method
        self._metadata = tuple(metadata or ())
        self._deadline = deadline
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._trailing: tuple[Any, ...] = ()
        self._aborted = False
        self._callbacks: list[Callable[[Any], None]] = []
        self.call: InProcessCall | None = None

    def invocation_metadata(self) -> tuple[Any, ...]:
        return self._metadata

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        if code == grpc.StatusCode.OK:
            raise ValueError("abort() with status OK")
        self._code, self._details, self._aborted = code, details, True
        self._trailing = tuple(trailing_metadata or ())
        raise grpc.aio.AbortError("Locally aborted.")

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    def set_trailing_metadata(self, metadata: Any) -> None:
        self._trailing = tuple(metadata or ())

    def trailing_metadata(self) -> tuple[Any, ...]:
        return self._trailing

    async def send_initial_metadata(self, metadata: Any) -> None:
        pass

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def peer(self) -> str:
        return "in-process"

    def cancelled(self) -> bool:
        return self.call is not None and self.call.cancelled()

    def done(self) -> bool:
        return self.call is not None and self.call.done()

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def set_compression(self, compression: Any) -> None:
        pass

    def disable_next_message_compression(self) -> None:
        pass


_END = object()  # the handler has ended; its status follows in the call


class InProcessCall:
    """The caller's side: grpc.aio's UnaryStreamCall, and UnaryUnaryCall by awaiting."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
        handler: grpc.RpcMethodHandler,
        method: str,
        request: bytes,
        deserialize: Callable[[bytes], Any] | None,
        timeout: float | None,
        metadata: Any,
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._context = Context(method, metadata, deadline)
        self._context.call = self
        self._deserialize = deserialize
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._status: tuple[grpc.StatusCode, str] | None = None
        self._status_event = asyncio.Event()
        self._trailing: tuple[Any, ...] = ()
        self._callbacks: list[Callable[[Any], None]] = []
        self._handler = handler
        self._stopped = False  # cancelled or past its deadline: what is queued is dropped
        self._task = loop.create_task(self._serve(request), context=context)
        self._timer = None if timeout is None else loop.call_later(timeout, self._expire)

    # --- the handler's task ---------------------------------------------------------

    async def _serve(self, raw: bytes) -> None:
        handler, context = self._handler, self._context
        try:
            request = deserialized(handler.request_deserializer, raw)
            if handler.response_streaming:
                serialize = handler.response_serializer
                async for message in handler.unary_stream(request, context):
                    self._queue.put_nowait(serialized(serialize, message))
            else:
                reply = await handler.unary_unary(request, context)
                if reply is not None:
                    self._queue.put_nowait(serialized(handler.response_serializer, reply))
        except grpc.aio.AbortError:
            pass
        except asyncio.CancelledError:
            # Whoever cancelled the call set its status; a handler that raised it on
            # its own ends the call cancelled.
            self._finish(grpc.StatusCode.CANCELLED, "Cancelled", ())
            return
        except Exception as exc:
            log.exception(
                "Unexpected [%s] raised by servicer method [%s]",
                type(exc).__name__,
                context._method,
            )
            if not context._aborted:
                if context._code in (None, grpc.StatusCode.OK):  # else the code it set
                    context._code = grpc.StatusCode.UNKNOWN
                context._details = f"Unexpected {type(exc)}: {exc}"
        code = context._code or grpc.StatusCode.OK
        self._finish(code, context._details or "", context._trailing)

    def _finish(self, code: grpc.StatusCode, details: str, trailing: tuple[Any, ...]) -> None:
        if self._status is not None:
            return
        self._status = (code, details)
        self._trailing = trailing
        if self._timer is not None:
            self._timer.cancel()
        self._queue.put_nowait(_END)
        self._status_event.set()
        for callback in (*self._callbacks, *self._context._callbacks):
            try:
                callback(self)
            except Exception:
                log.exception("a done callback of an in-process call failed")

    def _stop(self, code: grpc.StatusCode, details: str) -> bool:
        if self._status is not None:
            return False
        self._stopped = True
        self._finish(code, details, ())
        self._task.cancel()
        return True

    def _expire(self) -> None:
        self._stop(grpc.StatusCode.DEADLINE_EXCEEDED, DEADLINE_DETAILS)

    # --- the caller's side ------------------------------------------------------------

    def cancel(self) -> bool:
        return self._stop(grpc.StatusCode.CANCELLED, CANCELLED_DETAILS)

    def cancelled(self) -> bool:
        return self._status is not None and self._status[0] == grpc.StatusCode.CANCELLED

    def done(self) -> bool:
        return self._status is not None

    def time_remaining(self) -> float | None:
        return self._context.time_remaining()

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    async def initial_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata()

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        await self._status_event.wait()
        return grpc.aio.Metadata(*self._trailing)

    async def code(self) -> grpc.StatusCode:
        await self._status_event.wait()
        assert self._status is not None
        return self._status[0]

    async def details(self) -> str:
        await self._status_event.wait()
        assert self._status is not None
        return self._status[1]

    async def wait_for_connection(self) -> None:
        pass

    def _raise_for_status(self) -> None:
        assert self._status is not None
        code, details = self._status
        if code == grpc.StatusCode.OK:
            return
        if code == grpc.StatusCode.CANCELLED and details == CANCELLED_DETAILS:
            raise asyncio.CancelledError()
        raise grpc.aio.AioRpcError(
            code, grpc.aio.Metadata(), grpc.aio.Metadata(*self._trailing), details
        )

    async def read(self) -> Any:
        """The next message, or grpc.aio.EOF once the call has ended well."""
        if self._stopped or (self._queue.empty() and self._status is not None):
            self._raise_for_status()
            return grpc.aio.EOF
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            self.cancel()  # the caller went away: so does the call, as in grpc.aio
            raise
        if item is _END or self._stopped:
            self._queue.put_nowait(_END)  # a later read ends the same way
            self._raise_for_status()
            return grpc.aio.EOF
        return deserialized(self._deserialize, item)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            message = await self.read()
            if message is grpc.aio.EOF:
                return
            yield message

    def __await__(self) -> Generator[Any, None, Any]:
        """A unary call's response."""
        reply = yield from self.read().__await__()
        if reply is grpc.aio.EOF:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), "no response"
            )
        return reply


def serialized(serialize: Callable[[Any], bytes] | None, message: Any) -> Any:
    return message if serialize is None else serialize(message)


def deserialized(deserialize: Callable[[bytes], Any] | None, raw: Any) -> Any:
    return raw if deserialize is None else deserialize(raw)
