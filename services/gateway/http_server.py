"""The gateway's HTTP server guards against slow and numerous clients.

uvicorn has no timeout for a request's headers or body, so a client that sends
half its headers, or trickles its body a byte at a time, holds a connection (and
memory) for as long as it likes. Three settings bound that:

- `TOLLGATE_HTTP_HEADER_TIMEOUT_SECONDS` (10): a request's headers must arrive
  within this long of its first byte (or of the connection opening); otherwise the
  gateway answers 408 and closes the connection (`GuardedHttpProtocol`).
- `TOLLGATE_HTTP_BODY_TIMEOUT_SECONDS` (10): the longest wait for the next piece of
  a request body; the call then gets a 408 and the connection closes (`BodyTimeout`).
  A request answered before its body was read (a refusal at the door) must finish
  sending the body within this long, or the connection closes.
- `TOLLGATE_HTTP_MAX_CONNECTIONS` (1000): open connections beyond this are closed
  as soon as they are accepted.

An answer's head (status line and headers) leaves with the first piece of its body,
in one send (`OneSend`): uvicorn writes them apart, and each write is a system call
and, on a keep-alive connection, a packet the client wakes for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.gateway.errors import ApiError
from services.gateway.request_id import id_headers, new_request_id

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 1000


class SettingError(ValueError):
    """A gateway HTTP setting cannot be used; the message names it."""


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    given = env.get(name, "").strip()
    if not given:
        return default
    try:
        value = float(given)
    except ValueError:
        raise SettingError(f"{name}: {given!r} is not a number") from None
    if not value > 0:
        raise SettingError(f"{name}: {given!r} must be > 0")
    return value


@dataclass(frozen=True)
class HttpLimits:
    header_timeout_seconds: float = HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: float = BODY_TIMEOUT_SECONDS
    max_connections: int = MAX_CONNECTIONS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        return cls(
            header_timeout_seconds=_positive(
                env, "TOLLGATE_HTTP_HEADER_TIMEOUT_SECONDS", HEADER_TIMEOUT_SECONDS
            ),
            body_timeout_seconds=_positive(
                env, "TOLLGATE_HTTP_BODY_TIMEOUT_SECONDS", BODY_TIMEOUT_SECONDS
            ),
            max_connections=int(_positive(env, "TOLLGATE_HTTP_MAX_CONNECTIONS", MAX_CONNECTIONS)),
        )


def request_timeout(what: str) -> ApiError:
    return ApiError(
        408,
        f"The request {what} arrived too slowly; send it at once.",
        code="request_timeout",
        headers={"connection": "close"},
    )


_HEADERS_TIMED_OUT = json.dumps(request_timeout("headers").body()).encode()


def _headers_408() -> bytes:
    """The answer to headers that came too slowly: before the app, so its request id
    headers (which RequestIds sets on every other answer) are written here."""
    ids = "".join(f"{name}: {value}\r\n" for name, value in id_headers(new_request_id()).items())
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n"
        % len(_HEADERS_TIMED_OUT)
        + ids.encode()
        + b"\r\n"
        + _HEADERS_TIMED_OUT
    )


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a connection cap; made
    for given limits by `protocol_for`."""

    limits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_draining()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._stop_draining()
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        self._stop_draining()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before its body was all in (a refusal at the door): uvicorn skips
            # the rest, which must still arrive within the body timeout; a client that
            # trickles it would otherwise hold the connection for ever.
            self._drain_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self.transport.close
            )

    def _stop_draining(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def on_headers_complete(self) -> None:
        self._disarm()
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not before:
            self.cycle.transport = OneSend(self.transport, self.loop)  # type: ignore[assignment]

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_seconds, self._headers_too_slow
            )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_headers_408())
        self.transport.close()


class OneSend:
    """A request's view of its connection (uvicorn's RequestResponseCycle.transport)
    that holds the answer's head until the first piece of its body, and writes both
    at once. A head whose body is not sent in the same turn of the event loop (a
    stream still waiting for its first chunk) is written on its own at the next turn."""

    __slots__ = ("_transport", "_loop", "_head", "_flush", "_headed")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._flush: asyncio.Handle | None = None
        self._headed = False  # the head was written (or is held)

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._cancel()
            if len(data) <= _JOIN_BYTES:
                self._transport.write(head + data)
            else:  # a large body is not copied to save one write
                self._transport.write(head)
                self._transport.write(data)
        elif self._headed or data == _CONTINUE:  # (100 Continue comes before the head)
            self._transport.write(data)
        else:
            self._headed = True
            self._head = data
            self._flush = self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write a held head now."""
        self._cancel()
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def _cancel(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_JOIN_BYTES = 64 * 1024


def protocol_for(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    """The protocol class to pass as uvicorn.Config(http=...)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


class BodyTimeout:
    """ASGI middleware: a request body that pauses longer than `seconds` between
    pieces raises a 408 ApiError in the handler reading it (and the connection
    closes). Only body reads are timed: waiting for a disconnect is not."""

    def __init__(self, app: ASGIApp, seconds: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            # asyncio.timeout, not wait_for: wait_for runs receive() in a task of its
            # own, and its answer reaches us a turn of the event loop later.
            try:
                async with asyncio.timeout(self.seconds):
                    message = await receive()
            except TimeoutError:
                raise request_timeout("body") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)
