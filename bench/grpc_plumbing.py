"""What the internal calls' plumbing costs a call: CPU per call (client and server in
this one process) of a unary call over a sync and an aio channel, each through
tollgate's channel and server (credential presented and checked, request id bound)
and through bare grpc (no credential, no interceptor), and of a span with tracing off;
then the Python function calls a call through tollgate's plumbing makes (cProfile: the
sync server's handler threads are not seen; the aio server shares the client's loop).

    .venv/bin/python bench/grpc_plumbing.py [--calls 3000]

To set it beside another revision, run it with that revision's tollgate first on the
path: `git archive REV tollgate | tar -x -C /tmp/old && PYTHONPATH=/tmp/old ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import socket
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from tollgate import grpcauth, telemetry
from tollgate.grpcutil import CHANNEL_OPTIONS, InternalCredential, aio_channel, sync_channel
from tollgate.observability import grpc_scope
from tollgate.v1 import metering_pb2

TOKEN = "bench-internal-token-0123456789abcdef"
Request, Response = metering_pb2.UsageRecord, metering_pb2.RecordUsageResponse
METHOD = "/bench.Plumbing/One"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _handler(behavior: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "bench.Plumbing",
        {
            "One": grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=Request.FromString,
                response_serializer=Response.SerializeToString,
            )
        },
    )


def _interceptors(aio: bool) -> list[Any]:
    """The interceptors grpcutil's servers run, in this revision or the one before."""
    if hasattr(grpc_scope, "Scoped"):
        if aio:
            return [grpcauth.AioTokenServerInterceptor(TOKEN, then=grpc_scope.AioScoped())]
        return [grpcauth.TokenServerInterceptor(TOKEN, then=grpc_scope.Scoped())]
    if aio:
        return [
            grpcauth.AioTokenServerInterceptor(TOKEN),
            grpc_scope.AioScopeServerInterceptor(),
        ]
    return [grpcauth.TokenServerInterceptor(TOKEN), grpc_scope.ScopeServerInterceptor()]


def _per_call(calls: int, run: Callable[[], None]) -> float:
    """Microseconds of this process's CPU per call."""
    run()  # warm
    started = time.process_time()
    for _ in range(calls):
        run()
    return (time.process_time() - started) / calls * 1e6


class Counted:
    """Python function calls made while inside: a figure the machine's load does not
    move (CPU time on a busy machine does)."""

    def __init__(self) -> None:
        self.profile = cProfile.Profile()

    def __enter__(self) -> Counted:
        self.profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.profile.disable()

    def calls(self) -> int:
        return int(pstats.Stats(self.profile).total_calls)  # type: ignore[attr-defined]


def sync_case(calls: int, plumbed: bool, counted: Counted | None = None) -> float:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=_interceptors(aio=False) if plumbed else None,
    )
    server.add_generic_rpc_handlers((_handler(lambda request, context: Response()),))
    addr = f"127.0.0.1:{server.add_insecure_port(f'127.0.0.1:{_port()}')}"
    server.start()
    if plumbed:
        channel = sync_channel(addr, InternalCredential(TOKEN))
    else:
        channel = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
    call = channel.unary_unary(
        METHOD,
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )
    request = Request(request_id="req_bench")
    try:
        for _ in range(100):
            call(request, timeout=5)
        if counted is not None:
            with counted:
                for _ in range(calls):
                    call(request, timeout=5)
            return counted.calls() / calls
        return _per_call(calls, lambda: call(request, timeout=5))
    finally:
        channel.close()
        server.stop(0)


async def _aio_case(calls: int, plumbed: bool, counted: Counted | None = None) -> float:
    async def answer(request: Any, context: Any) -> Any:
        return Response()

    server = grpc.aio.server(interceptors=_interceptors(aio=True) if plumbed else None)
    server.add_generic_rpc_handlers((_handler(answer),))
    addr = f"127.0.0.1:{server.add_insecure_port(f'127.0.0.1:{_port()}')}"
    await server.start()
    if plumbed:
        channel = aio_channel(addr, InternalCredential(TOKEN))
    else:
        channel = grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)
    call = channel.unary_unary(
        METHOD,
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )
    request = Request(request_id="req_bench")
    try:
        for _ in range(100):
            await call(request, timeout=5)
        if counted is not None:
            with counted:
                for _ in range(calls):
                    await call(request, timeout=5)
            return counted.calls() / calls
        started = time.process_time()
        for _ in range(calls):
            await call(request, timeout=5)
        return (time.process_time() - started) / calls * 1e6
    finally:
        await channel.close()
        await server.stop(0)


def span_case(calls: int) -> float:
    tracer = telemetry.tracer("bench")
    metadata = (("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),)

    def one() -> None:
        with tracer.start_as_current_span("x", context=telemetry.incoming_context(metadata)):
            pass

    return _per_call(calls * 10, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="the least of this many runs")
    args = parser.parse_args()
    cases: dict[str, Callable[[], float]] = {
        "sync unary, bare grpc": lambda: sync_case(args.calls, plumbed=False),
        "sync unary, tollgate": lambda: sync_case(args.calls, plumbed=True),
        "aio unary, bare grpc": lambda: asyncio.run(_aio_case(args.calls, plumbed=False)),
        "aio unary, tollgate": lambda: asyncio.run(_aio_case(args.calls, plumbed=True)),
        "span, tracing off (incoming_context + start_as_current_span)": lambda: span_case(
            args.calls
        ),
    }
    found: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):  # rounds alternate the cases, so noise hits them all
        for name, case in cases.items():
            found[name].append(case())
    for name, runs in found.items():
        print(f"{min(runs):8.1f} us CPU/call  {name}")
    counts = {
        "sync unary, client side, bare grpc": sync_case(500, False, Counted()),
        "sync unary, client side, tollgate": sync_case(500, True, Counted()),
        "aio unary, client and server, bare grpc": asyncio.run(_aio_case(500, False, Counted())),
        "aio unary, client and server, tollgate": asyncio.run(_aio_case(500, True, Counted())),
    }
    for name, count in counts.items():
        print(f"{count:8.1f} Python calls/call  {name}")


if __name__ == "__main__":
    main()
