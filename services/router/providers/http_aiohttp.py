"""The upstream client on aiohttp: what providers send through unless a socks5://
proxy is configured (http_httpx.py). aiohttp costs a fifth of httpx's CPU for one
small POST (no anyio layers, a C HTTP parser), and the router makes one per call.

The session is made on first use, in the loop that uses it (a provider is built
before the loop runs). It reads no proxy from the environment, keeps no cookies,
follows no redirects, and maps every transport failure to UpstreamError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
from yarl import URL

from services.router.providers.base import (
    UpstreamError,
    connection_failed,
    upstream_proxy_failed,
    upstream_timed_out,
    upstream_unreachable,
)
from services.router.providers.http import (
    KEEPALIVE_SECONDS,
    MAX_CONNECTIONS,
    Timeouts,
)

CHUNK_BYTES = 65536


def error_for_exception(exc: BaseException) -> UpstreamError:
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return upstream_proxy_failed()  # the proxy refused or broke the tunnel
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's own timeouts subclass it
        return upstream_timed_out()
    if isinstance(exc, aiohttp.ClientConnectorError):  # the proxy's too, as httpx has it
        return upstream_unreachable()
    return connection_failed()


_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError)


def _received(content: aiohttp.StreamReader) -> bytes:
    """What the reader holds unread (aiohttp keeps it when a read fails; its buffer is
    not public API, so a reader without one gives nothing)."""
    if not getattr(content, "_buffer", None):
        return b""
    return bytes(content._read_nowait(-1))


class AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except _FAILURES as exc:
            raise error_for_exception(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except _FAILURES as exc:
            # aiohttp's readany raises a broken connection's error before it hands out
            # what had arrived ahead of it: those bytes were sent by the upstream (and
            # are billed by what was streamed), so they go on before the error.
            rest = _received(content)
            if rest:
                yield rest
            raise error_for_exception(exc) from exc

    async def aclose(self) -> None:
        # close(), not release(): a body not read to its end must end the upstream's work.
        self._response.close()


class AiohttpClient:
    def __init__(self, timeouts: Timeouts, proxy: str | None = None) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.write + timeouts.connect,  # a free connection, then connecting
            sock_connect=timeouts.connect,
            sock_read=timeouts.read,
        )
        # Credentials in the proxy's URL go to the proxy alone (Proxy-Authorization).
        self._proxy = URL(proxy) if proxy else None
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def _send(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        try:
            return await self._session_now().post(
                url,
                data=payload,
                headers=headers,
                allow_redirects=False,
                proxy=self._proxy,
            )
        except _FAILURES as exc:
            raise error_for_exception(exc) from exc

    async def post(self, url: str, payload: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        response = await self._send(url, payload, headers)
        try:
            return response.status, await response.read()
        except _FAILURES as exc:
            raise error_for_exception(exc) from exc
        finally:
            response.release()

    async def open_stream(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> AiohttpStream:
        return AiohttpStream(await self._send(url, payload, headers))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
