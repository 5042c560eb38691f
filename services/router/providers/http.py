"""HTTP plumbing every provider shares: one pooled client's limits, error mapping in
the client's terms, and reading a streaming POST's server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    RATE_LIMIT,
    SERVER_ERROR,
    UpstreamError,
    upstream_failed,
)

CONNECT_TIMEOUT_SECONDS = 10.0
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)
PASSED_ON_STATUSES = frozenset({400, 404, 409, 413, 422})
MAX_PASSED_MESSAGE = 2000


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


def error_for_exception(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(
            504, SERVER_ERROR, "upstream_timeout", "The upstream provider timed out."
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(
            502, SERVER_ERROR, "upstream_unavailable", "The upstream provider cannot be reached."
        )
    return upstream_failed("The connection to the upstream provider failed.")


def parse_object(raw: bytes | str) -> JSON:
    try:
        data = json.loads(raw)
    except ValueError:
        raise upstream_failed("The upstream provider sent invalid JSON.") from None
    if not isinstance(data, dict):
        raise upstream_failed("The upstream provider sent an unexpected answer.")
    return data


async def post_sse(
    client: httpx.AsyncClient,
    request: httpx.Request,
    error_for: Callable[[int, bytes], UpstreamError] = error_for_status,
) -> AsyncGenerator[str, None]:
    """Send a streaming request and yield each event's data. Failures are raised as
    UpstreamError; closing the generator closes the upstream response at once, so
    the upstream stops generating."""
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise error_for_exception(exc) from exc
    events = sse_data(response)
    try:
        if response.status_code >= 400:
            raise error_for(response.status_code, await response.aread())
        async for data in events:
            yield data
    except httpx.HTTPError as exc:
        raise error_for_exception(exc) from exc
    finally:
        await events.aclose()
        await response.aclose()


async def sse_data(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The `data` of each server-sent event (multi-line data joined with newlines)."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)
        # Comments (":"), "event:", "id:" and "retry:" lines carry nothing for us.
    if lines:
        yield "\n".join(lines)
