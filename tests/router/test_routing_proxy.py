"""Per-provider outbound proxies and timeouts: calls go through the proxy, and a
proxy that fails is that deployment failing (a retryable error), never a hang."""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.router.providers import build_provider
from services.router.providers.base import ChatCall, Provider, UpstreamError
from services.router.providers.http import timeout_for
from services.router.routing.retry import is_deployment_failure
from tollgate.config import ProviderConfig
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import free_port

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CALL = ChatCall("req-1", "m", BODY)
KINDS = ("openai", "anthropic", "gemini")


class _ProxyHandler(socketserver.StreamRequestHandler):
    """An HTTP proxy: forwards plain-HTTP requests (absolute-form), refuses CONNECT
    tunnels with 403, as a proxy that will not reach the upstream does."""

    server: LocalProxy

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1").strip()
        headers: dict[str, str] = {}
        while (line := self.rfile.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, target, _ = request_line.split(" ", 2)
        self.server.seen.append(f"{method} {target}")
        self.server.authorizations.append(headers.get("proxy-authorization", ""))
        if method == "CONNECT":
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        body = self.rfile.read(int(headers.get("content-length", "0")))
        hop_by_hop = ("host", "proxy-connection", "proxy-authorization")
        forwarded = {k: v for k, v in headers.items() if k not in hop_by_hop}
        answer = httpx.request(
            method, target, headers=forwarded, content=body, timeout=10, trust_env=False
        )
        self.wfile.write(
            f"HTTP/1.1 {answer.status_code} X\r\ncontent-type: "
            f"{answer.headers.get('content-type', 'application/json')}\r\n"
            f"content-length: {len(answer.content)}\r\nconnection: close\r\n\r\n".encode()
            + answer.content
        )


class LocalProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []
        self.authorizations: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def proxy() -> Iterator[LocalProxy]:
    server = LocalProxy()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream() as mock:
        yield mock


def provider(kind: str, base_url: str, **options: Any) -> Provider:
    return build_provider(ProviderConfig("p", kind, ("m",), base_url, "sk-test", **options))


async def error_of(p: Provider, *, stream: bool = False) -> UpstreamError:
    try:
        if stream:
            async for _ in p.stream(CALL):
                pass
        else:
            await p.complete(CALL)
    except UpstreamError as error:
        return error
    finally:
        await p.aclose()
    raise AssertionError("the call did not fail")


def test_calls_go_through_the_configured_proxy(proxy: LocalProxy, upstream: MockUpstream) -> None:
    async def main() -> str:
        p = provider("openai", upstream.base_url, proxy=proxy.url)
        try:
            completion = await p.complete(CALL)
        finally:
            await p.aclose()
        return str(completion.data["object"])

    assert asyncio.run(main()) == "chat.completion"
    assert proxy.seen == [f"POST {upstream.base_url}/chat/completions"]


def test_the_proxy_gets_its_credentials_and_never_the_upstream(
    proxy: LocalProxy, upstream: MockUpstream
) -> None:
    async def main() -> None:
        p = provider("openai", upstream.base_url, proxy=proxy.url.replace("//", "//user:secret@"))
        try:
            await p.complete(CALL)
        finally:
            await p.aclose()

    asyncio.run(main())
    tunnelled = provider(
        "openai", "https://api.upstream.invalid/v1", proxy=proxy.url.replace("//", "//user:secret@")
    )
    assert asyncio.run(error_of(tunnelled)).code == "upstream_proxy_failed"
    # user:secret, on the plain request and on the CONNECT (never inside the tunnel)
    assert proxy.authorizations == ["Basic dXNlcjpzZWNyZXQ="] * 2


def test_without_a_proxy_of_its_own_a_provider_takes_the_environments(
    proxy: LocalProxy, upstream: MockUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)

    async def main() -> None:
        p = provider("openai", upstream.base_url)
        try:
            await p.complete(CALL)
        finally:
            await p.aclose()

    asyncio.run(main())
    assert proxy.seen == [f"POST {upstream.base_url}/chat/completions"]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    asyncio.run(main())
    assert len(proxy.seen) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_proxy_that_refuses_the_tunnel_is_a_retryable_proxy_failure(
    proxy: LocalProxy, kind: str, stream: bool
) -> None:
    # https upstream: the proxy is asked for a tunnel, and refuses it.
    p = provider(kind, "https://api.upstream.invalid/v1", proxy=proxy.url)
    error = asyncio.run(error_of(p, stream=stream))
    assert (error.http_status, error.code) == (502, "upstream_proxy_failed")
    assert is_deployment_failure(error)
    assert proxy.seen and proxy.seen[0].startswith("CONNECT api.upstream.invalid:443")
    assert "sk-test" not in error.message


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_an_unreachable_proxy_is_a_retryable_failure_not_a_hang(
    scheme: str, upstream: MockUpstream
) -> None:
    # The upstream itself is up: only the line to it is down.
    p = provider(
        "openai",
        upstream.base_url,
        proxy=f"{scheme}://user:secret@127.0.0.1:{free_port()}",
        connect_timeout_seconds=2,
    )
    started = time.monotonic()
    error = asyncio.run(error_of(p))
    assert time.monotonic() - started < 2
    assert (error.http_status, error.code) == (502, "upstream_unavailable")
    assert is_deployment_failure(error)
    assert "secret" not in error.message


def test_the_read_timeout_ends_a_silent_upstream() -> None:
    with MockUpstream(latency_ms=3000) as slow:
        p = provider("openai", slow.base_url, read_timeout_seconds=0.3)
        started = time.monotonic()
        error = asyncio.run(error_of(p))
    assert time.monotonic() - started < 2
    assert (error.http_status, error.code) == (504, "upstream_timeout")
    assert is_deployment_failure(error)


def test_timeouts_default_to_the_provider_timeout() -> None:
    config = ProviderConfig("p", "openai", ("m",), "http://x", timeout_seconds=60)
    assert (timeout_for(config).connect, timeout_for(config).read) == (10.0, 60.0)
    config = ProviderConfig("p", "openai", ("m",), "http://x", timeout_seconds=5)
    assert (timeout_for(config).connect, timeout_for(config).read) == (5.0, 5.0)
    config = ProviderConfig(
        "p", "openai", ("m",), "http://x", connect_timeout_seconds=3, read_timeout_seconds=30
    )
    timeout = timeout_for(config)
    assert (timeout.connect, timeout.read, timeout.write) == (3.0, 30.0, 600.0)
