"""The upstream clients behind providers/http.py: which one a provider gets, the
environment's proxy, the server-sent events' lines however the body is cut, and the
aiohttp client's pooling and early close against a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.router.providers.base import UpstreamError
from services.router.providers.clients import client_for, environment_proxy
from services.router.providers.http import LineSplitter, Timeouts, post_json, post_sse, sse_data
from services.router.providers.http_aiohttp import AiohttpClient
from services.router.providers.http_httpx import HttpxClient
from tollgate.config import ProviderConfig

from .harness import run

TIMEOUTS = Timeouts(connect=2.0, read=2.0, write=5.0)
ANSWER = b'{"id":"x"}'
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def config(**options: object) -> ProviderConfig:
    return ProviderConfig("p", "openai", ("m",), "http://api.upstream.test/v1", **options)  # type: ignore[arg-type]


def test_aiohttp_sends_unless_the_proxy_is_socks(no_proxy_environment: pytest.MonkeyPatch) -> None:
    assert isinstance(client_for(config()), AiohttpClient)
    assert isinstance(client_for(config(proxy="http://127.0.0.1:3128")), AiohttpClient)
    assert isinstance(client_for(config(proxy="socks5://u:p@127.0.0.1:1080")), HttpxClient)
    assert isinstance(client_for(config(proxy="SOCKS5H://127.0.0.1:1080")), HttpxClient)


def test_the_environment_names_the_proxy_unless_no_proxy_exempts_the_host(
    no_proxy_environment: pytest.MonkeyPatch,
) -> None:
    assert environment_proxy("http://api.upstream.test/v1") is None
    no_proxy_environment.setenv("HTTP_PROXY", "http://proxy.test:3128")
    no_proxy_environment.setenv("ALL_PROXY", "socks5://proxy.test:1080")
    assert environment_proxy("http://api.upstream.test/v1") == "http://proxy.test:3128"
    assert environment_proxy("https://api.upstream.test/v1") == "socks5://proxy.test:1080"
    assert isinstance(
        client_for(ProviderConfig("p", "openai", ("m",), "https://a.test")), HttpxClient
    )
    no_proxy_environment.setenv("NO_PROXY", "upstream.test")
    assert environment_proxy("http://api.upstream.test/v1") is None


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([b"a\nb\n"], ["a", "b"]),
        ([b"a\r", b"\nb\r\n"], ["a", "b"]),  # a CRLF cut in two is one line end
        ([b"a\rb\r", b"c"], ["a", "b", "c"]),  # lone CRs end lines too
        ([b"\xe2\x80", b"\xa8x\n"], ["\u2028x"]),  # a character cut in two; U+2028 ends nothing
        ([b"lo", b"ng", b" line"], ["long line"]),
        ([b"a\n\n", b"\n"], ["a", "", ""]),
    ],
)
def test_lines_are_cut_where_events_say_however_the_body_arrives(
    chunks: list[bytes], lines: list[str]
) -> None:
    splitter = LineSplitter()
    seen = [line for chunk in chunks for line in splitter.feed(chunk)]
    assert seen + splitter.feed(b"", final=True) == lines


def test_events_are_joined_across_chunks() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b'data: {"a"', b":1}\r\n\r\ndata: x\n", b"data: y\n\n: ping\n\ndata: [DONE]"):
            yield chunk

    async def events() -> list[str]:
        return [data async for data in sse_data(chunks())]

    assert run(events()) == ['{"a":1}', "x\ny", "[DONE]"]


class Upstream:
    """A bare HTTP/1.1 upstream on a socket: counts connections, answers each POST with
    `ANSWER`, or (path /stream) with an endless event stream until the client leaves."""

    def __init__(self) -> None:
        self.connections = 0
        self.closed = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                fields = dict(
                    line.split(": ", 1) for line in head.decode().lower().split("\r\n")[1:] if line
                )
                await reader.readexactly(int(fields.get("content-length", "0")))
                if b" /stream " not in head:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(ANSWER))
                    writer.write(ANSWER)
                    continue
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                while True:
                    event = b"data: {}\n\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                    await asyncio.sleep(0.01)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed.set()
        finally:
            writer.close()


def test_the_aiohttp_client_keeps_one_connection_alive_for_calls_in_turn() -> None:
    async def go() -> tuple[int, list[bytes]]:
        async with Upstream() as upstream:
            client = AiohttpClient(TIMEOUTS)
            try:
                url = f"http://127.0.0.1:{upstream.port}/v1/chat/completions"
                answers = [(await post_json(client, url, b"{}", {})).raw for _ in range(3)]
            finally:
                await client.aclose()
            return upstream.connections, answers

    assert run(go()) == (1, [ANSWER] * 3)


def test_closing_an_aiohttp_stream_early_closes_the_upstream_connection() -> None:
    async def go() -> bool:
        async with Upstream() as upstream:
            client = AiohttpClient(TIMEOUTS)
            try:
                events = post_sse(client, f"http://127.0.0.1:{upstream.port}/stream", b"{}", {})
                assert await anext(events) == "{}"
                await events.aclose()
                await asyncio.wait_for(upstream.closed.wait(), 2)
            finally:
                await client.aclose()
            return upstream.closed.is_set()

    assert run(go())


def test_the_aiohttp_client_maps_a_refused_connection() -> None:
    async def go() -> UpstreamError:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        client = AiohttpClient(TIMEOUTS)
        try:
            await post_json(client, f"http://127.0.0.1:{port}/v1", b"{}", {})
        except UpstreamError as error:
            return error
        finally:
            await client.aclose()
        raise AssertionError("the call did not fail")

    error = run(go())
    assert (error.http_status, error.code) == (502, "upstream_unavailable")


def test_events_that_arrived_before_a_broken_stream_are_all_relayed() -> None:
    """The upstream sends an event, then (while the reader is busy) two more and closes
    the connection without the last chunk: the two still come out before the error
    (aiohttp's readany raises the break ahead of what it holds unless it is drained)."""

    def chunk(n: int) -> bytes:
        event = b'data: {"n":%d}\n\n' % n
        return b"%x\r\n%s\r\n" % (len(event), event)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = [x for x in head.decode().lower().split("\r\n") if "content-length" in x]
        await reader.readexactly(int(length[0].split(": ")[1]) if length else 0)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(0))
        await writer.drain()
        await asyncio.sleep(0.1)  # the reader is busy with the first event meanwhile
        writer.write(chunk(1) + chunk(2))
        await writer.drain()
        writer.close()

    async def go() -> tuple[list[str], UpstreamError | None]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = AiohttpClient(TIMEOUTS)
        seen: list[str] = []
        try:
            async for data in post_sse(client, f"http://127.0.0.1:{port}/s", b"{}", {}):
                seen.append(data)
                if len(seen) == 1:
                    await asyncio.sleep(0.5)  # the rest and the break arrive unread
        except UpstreamError as error:
            return seen, error
        finally:
            await client.aclose()
            server.close()
        return seen, None

    seen, error = run(go())
    assert seen == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert error is not None
