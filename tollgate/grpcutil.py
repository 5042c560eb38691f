"""gRPC plumbing shared by the services: long-lived channels, servers with the
standard health service, and clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 1),
    # A restarted service is found again within a second (gRPC's default backoff grows
    # to two minutes, long after the service is back).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # With a dns:/// target that resolves to several replicas, spread calls over all.
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
]
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]

Adder = Callable[[Any], None]


def aio_channel(addr: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)


def sync_channel(addr: str) -> grpc.Channel:
    return grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)


def _mark_serving(servicer: Any, service_names: Iterable[str]) -> None:
    for name in ("", *service_names):
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


def run_sync_server(
    name: str,
    listen: str,
    adders: list[tuple[Adder, str]],
    *,
    max_workers: int = 32,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. `adders` pairs each add_*Servicer_to_server partial
    with the full service name that the health service reports."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name),
        options=SERVER_OPTIONS,
    )
    for add, _ in adders:
        add(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise SystemExit(f"{name}: cannot listen on {listen}")
    server.start()
    _mark_serving(health_servicer, (service for _, service in adders))
    log.info("%s serving on %s", name, listen)

    stopped = threading.Event()

    def _stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stopped.wait()
    log.info("%s stopping", name)
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=5).wait()
    if on_stop:
        on_stop()


async def start_aio_server(
    name: str, listen: str, adders: list[tuple[Adder, str]]
) -> grpc.aio.Server:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    for add, _ in adders:
        add(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(listen) == 0:
        raise SystemExit(f"{name}: cannot listen on {listen}")
    await server.start()
    for service in ("", *(s for _, s in adders)):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s serving on %s", name, listen)
    return server


def install_async_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def check_health(addr: str, timeout: float = 1.0) -> bool:
    """True when the service at addr answers SERVING."""
    with sync_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
