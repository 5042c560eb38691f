"""The upstream client on httpx: for a provider reached through a socks5:// proxy
(httpx's `socks` extra; aiohttp has none), and for tests that script an upstream
with an `httpx.MockTransport`. Every transport failure is raised as UpstreamError."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from services.router.providers.base import (
    UpstreamError,
    connection_failed,
    upstream_proxy_failed,
    upstream_timed_out,
    upstream_unreachable,
)
from services.router.providers.http import KEEPALIVE_SECONDS, MAX_CONNECTIONS, Timeouts

LIMITS = httpx.Limits(
    max_connections=MAX_CONNECTIONS,
    max_keepalive_connections=200,
    keepalive_expiry=KEEPALIVE_SECONDS,
)


def error_for_exception(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.ProxyError):
        return upstream_proxy_failed()  # the proxy refused or broke the tunnel
    if isinstance(exc, httpx.TimeoutException):
        return upstream_timed_out()
    if isinstance(exc, httpx.ConnectError):
        return upstream_unreachable()
    return connection_failed()


class HttpxStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxClient:
    """An UpstreamClient sending through `client` (made from the provider's timeouts
    and proxy by `for_config`, or given by a test)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    def for_config(cls, timeouts: Timeouts, proxy: str | None) -> HttpxClient:
        timeout = httpx.Timeout(timeouts.write, connect=timeouts.connect, read=timeouts.read)
        # trust_env=False: a proxy comes from the provider's configuration only.
        client = httpx.AsyncClient(timeout=timeout, limits=LIMITS, proxy=proxy, trust_env=False)
        return cls(client)

    async def post(self, url: str, payload: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        try:
            response = await self._client.post(url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc
        return response.status_code, response.content

    async def open_stream(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> HttpxStream:
        request = self._client.build_request("POST", url, content=payload, headers=headers)
        try:
            return HttpxStream(await self._client.send(request, stream=True))
        except httpx.HTTPError as exc:
            raise error_for_exception(exc) from exc

    async def aclose(self) -> None:
        await self._client.aclose()
