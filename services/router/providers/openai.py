"""Any OpenAI-compatible server: OpenAI itself, vLLM, llama.cpp, the mock upstream.

The client's body goes upstream unchanged except `model` (the served model) and,
when streaming, `stream_options.include_usage` (forced on, so the upstream reports
what it bills).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    RATE_LIMIT,
    SERVER_ERROR,
    ChatCall,
    Completion,
    StreamChunk,
    UpstreamError,
    upstream_failed,
    usage_from,
)
from tollgate.config import ProviderConfig

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


class OpenAIProvider:
    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self._url = f"{config.base_url}/chat/completions"
        headers = {"content-type": "application/json"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        timeout = httpx.Timeout(
            config.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds)
        )
        self._client = client or httpx.AsyncClient(timeout=timeout, limits=LIMITS)

    def _payload(self, call: ChatCall, *, stream: bool) -> bytes:
        body = dict(call.body)
        body["model"] = call.served_model
        if stream:
            body["stream"] = True
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        elif body.get("stream"):
            body["stream"] = False
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    async def complete(self, call: ChatCall) -> Completion:
        try:
            response = await self._client.post(
                self._url, content=self._payload(call, stream=False), headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.content)
        data = parse_object(response.content)
        return Completion(body=response.content, data=data, usage=usage_from(data))

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        request = self._client.build_request(
            "POST", self._url, content=self._payload(call, stream=True), headers=self._headers
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        events = sse_data(response)
        try:
            if response.status_code >= 400:
                raise error_for_status(response.status_code, await response.aread())
            async for data in events:
                if data == "[DONE]":
                    return
                chunk = parse_object(data)
                if "error" in chunk and not chunk.get("choices"):
                    raise upstream_failed("The upstream provider failed mid-stream.")
                yield StreamChunk(raw=data.encode(), data=chunk, usage=usage_from(chunk))
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        finally:
            await events.aclose()
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


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
