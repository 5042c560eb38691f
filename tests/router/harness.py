"""Real parts for router tests: the mock upstream over HTTP, the router over gRPC,
and one fake, a Metering server that collects the usage records it receives."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent import futures
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import yaml

from services.router.main import RunningRouter, start_router
from services.router.providers.http_httpx import HttpxClient
from tests.e2e.suite import free_port
from tollgate.config import Settings, load_settings
from tollgate.grpcutil import aio_channel
from tollgate.v1 import common_pb2, metering_pb2, metering_pb2_grpc, router_pb2, router_pb2_grpc
from tollgate_mocks.openai_upstream import MockUpstream

T = TypeVar("T")
UPSTREAM_KEY = "sk-upstream-secret-1234"


def scripted_client(handler: Callable[[httpx.Request], httpx.Response]) -> HttpxClient:
    """An upstream client whose upstream is `handler` (httpx's MockTransport)."""
    return HttpxClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def eventually(check: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


class FakeMetering(metering_pb2_grpc.MeteringServicer):
    """Collects UsageRecords; can refuse the first `fail_next` calls."""

    def __init__(self) -> None:
        self.records: list[metering_pb2.UsageRecord] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    def RecordUsage(
        self, request: metering_pb2.UsageRecord, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageResponse:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "metering is busy")
            duplicate = any(r.request_id == request.request_id for r in self.records)
            self.records.append(request)
        return metering_pb2.RecordUsageResponse(
            cost=common_pb2.Money(amount="0", currency="USD"), duplicate=duplicate
        )

    def start(self, port: int = 0) -> FakeMetering:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metering_pb2_grpc.add_MeteringServicer_to_server(self, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        assert self.port, f"cannot listen on port {port}"
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def of(self, request_id: str) -> list[metering_pb2.UsageRecord]:
        with self._lock:
            return [r for r in self.records if r.request_id == request_id]

    async def one(self, request_id: str, timeout: float = 5.0) -> metering_pb2.UsageRecord:
        records = await eventually(lambda: self.of(request_id), timeout, f"record {request_id}")
        assert len(records) == 1, records
        return records[0]

    def assert_each_once(self) -> None:
        with self._lock:
            counts = Counter(r.request_id for r in self.records)
        assert all(n == 1 for n in counts.values()), counts


def make_settings(
    home: Path,
    metering_addr: str,
    providers: list[dict[str, Any]],
    aliases: dict[str, str] | None = None,
    **sections: Any,  # more of the YAML: routes, routing
) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "tollgate.yaml"
    data = {"providers": providers, "aliases": aliases or {}, **sections}
    config.write_text(yaml.safe_dump(data))
    return load_settings(
        {
            "TOLLGATE_HOME": str(home),
            "TOLLGATE_CONFIG": str(config),
            "TOLLGATE_ROUTER_LISTEN": f"127.0.0.1:{free_port()}",
            "TOLLGATE_METERING_ADDR": metering_addr,
            "UPSTREAM_KEY": UPSTREAM_KEY,
        }
    )


def openai_provider(upstream: MockUpstream, models: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "mock",
        "kind": "openai",
        "base_url": upstream.base_url,
        "api_key_env": "UPSTREAM_KEY",
        "models": models,
        **extra,
    }


@dataclass
class Events:
    responses: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[common_pb2.Error] = field(default_factory=list)
    usages: list[common_pb2.Usage] = field(default_factory=list)  # the last event of a call
    served: list[router_pb2.Served] = field(default_factory=list)  # before the first answer

    @property
    def content(self) -> str:
        parts = []
        for chunk in self.chunks:
            for choice in chunk.get("choices", []):
                parts.append(choice.get("delta", {}).get("content") or "")
        return "".join(parts)


def collect(events: list[router_pb2.ChatEvent]) -> Events:
    out = Events()
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "response":
            out.responses.append(json.loads(event.response))
        elif kind == "chunk":
            out.chunks.append(json.loads(event.chunk))
        elif kind == "usage":
            out.usages.append(event.usage)
        elif kind == "served":
            out.served.append(event.served)
        else:
            out.errors.append(event.error)
    return out


@dataclass
class RouterHarness:
    router: RunningRouter
    stub: router_pb2_grpc.RouterStub
    settings: Settings
    _counter: int = 0

    def request(
        self, body: dict[str, Any], *, model: str | None = None, **fields: Any
    ) -> router_pb2.ChatRequest:
        self._counter += 1
        stream = bool(body.get("stream"))
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))
        values: dict[str, Any] = {
            "request_id": f"req-{self._counter}-{time.monotonic_ns()}",
            "caller": common_pb2.Caller(project_id="proj_1", key_id="key_1", end_user="u"),
            "model": model or body["model"],
            "stream": stream,
            "include_usage": include_usage,
            "body": json.dumps(body).encode(),
            "prompt_tokens_estimate": 0,
            "started_at_unix_ms": int(time.time() * 1000),
        }
        values.update(fields)
        return router_pb2.ChatRequest(**values)

    async def call(self, request: router_pb2.ChatRequest) -> Events:
        return collect([event async for event in self.stub.ChatCompletion(request, timeout=10)])


@asynccontextmanager
async def running_router(settings: Settings) -> AsyncIterator[RouterHarness]:
    router = await start_router(settings)
    channel = aio_channel(settings.listens["router"])  # with the token start_router set
    try:
        yield RouterHarness(router, router_pb2_grpc.RouterStub(channel), settings)
    finally:
        await channel.close()
        await router.stop(grace=1)


def spooled(settings: Settings) -> list[Path]:
    if not settings.spool_dir.exists():
        return []
    return sorted(settings.spool_dir.glob("*.rec"))
