"""HTTP plumbing every provider shares: the one small interface a provider sends
through (`UpstreamClient`: a POST answered whole, or a POST whose answer streams),
its timeouts, the error mapping of an upstream's HTTP error statuses, a JSON POST
(`post_json`) and a streaming POST's server-sent events (`post_sse`).

Which library sends is `clients.client_for`'s choice (aiohttp, or httpx for a
socks5:// proxy); a client raises UpstreamError for its own transport failures
(base.upstream_timed_out and its siblings), so providers never see the library."""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    RATE_LIMIT,
    SERVER_ERROR,
    UpstreamError,
    upstream_failed,
)
from tollgate.config import ProviderConfig
from tollgate.telemetry import upstream_headers

CONNECT_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 1000
KEEPALIVE_SECONDS = 60.0
PASSED_ON_STATUSES = frozenset({400, 404, 409, 413, 422})
MAX_PASSED_MESSAGE = 2000


class UpstreamStream(Protocol):
    """An answer being received: its status, then its body, read whole or as it comes."""

    status: int

    async def read(self) -> bytes:
        """The whole body (for an error status). Raises UpstreamError."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives. Raises UpstreamError."""
        ...

    async def aclose(self) -> None:
        """Stop receiving: a body not read to its end closes the connection at once."""
        ...


class UpstreamClient(Protocol):
    """A pooled, keep-alive HTTP client aimed at one provider (its timeouts, its proxy).
    Every transport failure is raised as UpstreamError."""

    async def post(self, url: str, payload: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """The status and the whole body of a POST's answer."""
        ...

    async def open_stream(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> UpstreamStream:
        """A POST whose answer is read as it arrives; the caller closes it."""
        ...

    async def aclose(self) -> None:
        """Release the connections; called once at shutdown."""
        ...


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect, to wait for each read, and for a write or a free connection."""

    connect: float
    read: float
    write: float


def timeout_for(config: ProviderConfig) -> Timeouts:
    """`timeout_seconds` for writes and the pool; connect and read as configured."""
    connect = config.connect_timeout_seconds or min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds)
    read = config.read_timeout_seconds or config.timeout_seconds
    return Timeouts(connect=connect, read=read, write=config.timeout_seconds)


def _upstream_error_fields(body: bytes) -> JSON:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def error_for_status(status: int, body: bytes) -> UpstreamError:
    """The client-facing error for an upstream's HTTP error response."""
    if status in PASSED_ON_STATUSES:
        fields = _upstream_error_fields(body)
        message = _str(fields.get("message"))[:MAX_PASSED_MESSAGE]
        return UpstreamError(
            status,
            INVALID_REQUEST,
            _str(fields.get("code")),
            message or f"The upstream provider rejected the request (HTTP {status}).",
            _str(fields.get("param")),
        )
    if status in (401, 403):
        # The upstream's own message may quote its key or account: never pass it on.
        return UpstreamError(
            502,
            SERVER_ERROR,
            "upstream_auth_failed",
            "The upstream provider refused tollgate's credentials; tell the operator.",
        )
    if status == 429:
        return UpstreamError(
            429,
            RATE_LIMIT,
            "upstream_rate_limited",
            "The upstream provider is rate limiting requests; retry later.",
        )
    return upstream_failed(f"The upstream provider failed (HTTP {status}).")


def parse_object(raw: bytes | str) -> JSON:
    try:
        data = json.loads(raw)
    except ValueError:
        raise upstream_failed("The upstream provider sent invalid JSON.") from None
    if not isinstance(data, dict):
        raise upstream_failed("The upstream provider sent an unexpected answer.")
    return data


@dataclass(frozen=True)
class JSONAnswer:
    """An upstream's JSON answer: the body as sent, and the object it holds."""

    raw: bytes
    data: JSON


def _traced(headers: Mapping[str, str]) -> Mapping[str, str]:
    traced = upstream_headers()  # the trace, when the operator sends it upstream
    return {**headers, **traced} if traced else headers


async def post_json(
    client: UpstreamClient,
    url: str,
    payload: bytes,
    headers: Mapping[str, str],
    error_for: Callable[[int, bytes], UpstreamError] = error_for_status,
) -> JSONAnswer:
    """Send a JSON request and return its answer, which must be a JSON object.
    Failures (no connection, a timeout, an HTTP error status, a body that is no JSON
    object) are raised as UpstreamError."""
    status, body = await client.post(url, payload, _traced(headers))
    if status >= 400:
        raise error_for(status, body)
    return JSONAnswer(body, parse_object(body))


async def post_sse(
    client: UpstreamClient,
    url: str,
    payload: bytes,
    headers: Mapping[str, str],
    error_for: Callable[[int, bytes], UpstreamError] = error_for_status,
) -> AsyncGenerator[str, None]:
    """Send a streaming request and yield each event's data. Failures are raised as
    UpstreamError; closing the generator closes the upstream response at once, so
    the upstream stops generating."""
    answer = await client.open_stream(url, payload, _traced(headers))
    try:
        if answer.status >= 400:
            raise error_for(answer.status, await answer.read())
        events = sse_data(answer.chunks())
        try:
            async for data in events:
                yield data
        finally:
            await events.aclose()
    finally:
        await answer.aclose()


class LineSplitter:
    """Text lines out of a body's chunks, ended by "\\n", "\\r\\n" or "\\r" as
    server-sent events allow (and nothing else: a JSON string may hold U+2028)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []

    def feed(self, chunk: bytes, *, final: bool = False) -> list[str]:
        text = self._decoder.decode(chunk, final)
        if "\n" not in text and "\r" not in text and not final:
            if text:
                self._pending.append(text)
            return []
        self._pending.append(text)
        text = "".join(self._pending)
        # A "\r" at the end may be the first half of a "\r\n": keep it for the next chunk.
        held = "\r" if text.endswith("\r") and not final else ""
        if held:
            text = text[:-1]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        last = lines.pop()
        if final:
            self._pending = []
            return [*lines, last] if last else lines
        self._pending = [last + held] if last or held else []
        return lines


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncGenerator[str, None]:
    """The `data` of each server-sent event (multi-line data joined with newlines)."""
    splitter = LineSplitter()
    data: list[str] = []
    tail = False
    while not tail:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            chunk, tail = b"", True
        for line in splitter.feed(chunk, final=tail):
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            if line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
            # Comments (":"), "event:", "id:" and "retry:" lines carry nothing for us.
    if data:
        yield "\n".join(data)
