"""The routing drill: a route's primary upstream returns 503 for a while under load.

A router (in this process, over gRPC) serves `chat` from a primary mock upstream,
with a backup mock as its fallback; both answer after UPSTREAM_MS. CALLS chat calls
go out at CONCURRENCY; while calls OUTAGE[0]..OUTAGE[1] are being sent, the primary
answers every call with 503, then recovers. Printed: calls failed (should be 0),
calls served by the fallback, and the p50 latency of calls the primary served, of
fallback calls that tried the primary first (attempts 2) and of fallback calls that
skipped it because it was cooling down (attempts 1): the difference is what a
fallback adds. Usage records go to a metering stand-in that only counts them.

    .venv/bin/python bench/routing_drill.py [--calls 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent import futures
from pathlib import Path

import grpc
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.router.main import start_router  # noqa: E402
from tollgate.config import load_settings  # noqa: E402
from tollgate.grpcutil import aio_channel  # noqa: E402
from tollgate.v1 import (  # noqa: E402
    common_pb2,
    metering_pb2,
    metering_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
)
from tollgate_mocks.openai_upstream import MockUpstream  # noqa: E402

UPSTREAM_MS = 20
BODY = {"model": "chat", "messages": [{"role": "user", "content": "drill"}]}


class CountingMetering(metering_pb2_grpc.MeteringServicer):
    def __init__(self) -> None:
        self.records: Counter[str] = Counter()

    def RecordUsage(
        self, request: metering_pb2.UsageRecord, context: grpc.ServicerContext
    ) -> metering_pb2.RecordUsageResponse:
        self.records[request.request_id] += 1
        return metering_pb2.RecordUsageResponse(cost=common_pb2.Money(amount="0", currency="USD"))


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def p50(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ms" if values else "-"


async def drill(calls: int, concurrency: int, outage: tuple[int, int], cooldown: float) -> None:
    primary = MockUpstream(latency_ms=UPSTREAM_MS).start()
    backup = MockUpstream(latency_ms=UPSTREAM_MS).start()
    metering = CountingMetering()
    sink = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metering_pb2_grpc.add_MeteringServicer_to_server(metering, sink)
    sink_port = sink.add_insecure_port("127.0.0.1:0")
    sink.start()
    home = Path(tempfile.mkdtemp(prefix="routing-drill-"))
    config = {
        "providers": [
            {"name": "primary", "kind": "openai", "base_url": primary.base_url, "api_key_env": "K"},
            {"name": "backup", "kind": "openai", "base_url": backup.base_url, "api_key_env": "K"},
        ],
        "routes": [
            {
                "model": "chat",
                "deployments": [{"provider": "primary", "model": "big"}],
                "fallbacks": ["spare"],
            },
            {"model": "spare", "deployments": [{"provider": "backup", "model": "small"}]},
        ],
        "routing": {"cooldown": {"seconds": cooldown, "max_seconds": cooldown * 4}},
    }
    (home / "tollgate.yaml").write_text(yaml.safe_dump(config))
    settings = load_settings(
        {
            "TOLLGATE_HOME": str(home),
            "TOLLGATE_CONFIG": str(home / "tollgate.yaml"),
            "TOLLGATE_ROUTER_LISTEN": f"127.0.0.1:{_port()}",
            "TOLLGATE_METERING_ADDR": f"127.0.0.1:{sink_port}",
            "K": "sk-drill",
        }
    )
    router = await start_router(settings)
    channel = aio_channel(settings.listens["router"])
    stub = router_pb2_grpc.RouterStub(channel)
    results: list[tuple[float, router_pb2.Served | None, bool]] = []
    sent = 0

    async def one(index: int) -> None:
        request = router_pb2.ChatRequest(
            request_id=f"drill-{index}-{time.monotonic_ns()}",
            caller=common_pb2.Caller(project_id="drill", key_id="k"),
            model="chat",
            body=json.dumps(BODY).encode(),
        )
        started = time.perf_counter()
        served, failed = None, False
        async for event in stub.ChatCompletion(request, timeout=60):
            kind = event.WhichOneof("event")
            if kind == "served":
                served = event.served
            elif kind == "error":
                failed = True
        results.append(((time.perf_counter() - started) * 1000, served, failed))

    async def worker() -> None:
        nonlocal sent
        while sent < calls:
            index = sent
            sent += 1
            primary.state.fail_status = 503 if outage[0] <= index < outage[1] else None
            await one(index)

    try:
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.monotonic() - started
        await asyncio.sleep(1)  # the last records reach the metering stand-in
    finally:
        await channel.close()
        await router.stop(grace=1)
        sink.stop(None)
        primary.stop()
        backup.stop()
    failed = sum(1 for _, _, f in results if f)
    by_primary = [ms for ms, s, _ in results if s and s.provider == "primary"]
    tried_first = [ms for ms, s, _ in results if s and s.provider == "backup" and s.attempts > 1]
    skipped = [ms for ms, s, _ in results if s and s.provider == "backup" and s.attempts == 1]
    print(f"calls: {len(results)} at concurrency {concurrency} in {seconds:.1f} s")
    print(f"primary answering 503 while calls {outage[0]}..{outage[1] - 1} were sent")
    print(f"calls failed: {failed}")
    print(f"served by the fallback: {len(tried_first) + len(skipped)}")
    print(f"  after trying the primary (attempts 2): {len(tried_first)}")
    print(f"  primary cooling, skipped (attempts 1): {len(skipped)}")
    print(f"served by the primary: {len(by_primary)}")
    print(f"p50 latency, primary: {p50(by_primary)}")
    print(f"p50 latency, fallback after a 503: {p50(tried_first)}")
    print(f"p50 latency, fallback, primary cooling: {p50(skipped)}")
    print(f"primary upstream calls: {len(primary.state.requests)}")
    twice = sum(1 for n in metering.records.values() if n > 1)
    print(f"usage records: {sum(metering.records.values())} for {len(metering.records)} calls")
    print(f"calls recorded more than once: {twice}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--outage", default="40:160", help="first:end call index of the 503s")
    parser.add_argument("--cooldown", type=float, default=1.0, help="cooldown seconds")
    args = parser.parse_args()
    first, end = (int(v) for v in args.outage.split(":"))
    asyncio.run(drill(args.calls, args.concurrency, (first, end), args.cooldown))


if __name__ == "__main__":
    main()
