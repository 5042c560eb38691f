"""gRPC plumbing shared by the services: long-lived channels, servers with the
standard health service, and clean shutdown on SIGTERM/SIGINT.

Services trust only each other. A service's main calls `use_internal_credential`
first; from then on every channel made here presents the internal token (and, when
configured, a TLS client certificate), and every server made here refuses calls
without the token (see grpcauth.py; the health service stays open). A server refuses
to start in a process that has no token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tollgate import inprocess, inprocess_blocking
from tollgate.config import Settings
from tollgate.grpc_metadata import AddMetadata, AioMetadataChannel, MetadataChannel, chain
from tollgate.grpcauth import AioTokenServerInterceptor, TokenMetadata, TokenServerInterceptor
from tollgate.grpctls import TlsMaterial
from tollgate.internal_token import internal_token
from tollgate.observability import tracing
from tollgate.observability.grpc_scope import AioScoped, Scoped, with_trace
from tollgate.observability.logs import add_secret

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
    # Callers reconnect every few minutes, and so resolve a dns:/// target again: a
    # replica added by a scale-out (an autoscaler) gets its share of calls. A call in
    # flight keeps its connection for up to the grace, longer than the longest call.
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 600_000),
]

Adder = Callable[[Any], None]


@dataclass(frozen=True)
class InternalCredential:
    """What this process presents to the other services and requires of its callers."""

    token: str = field(repr=False)  # "": calls carry none (enough for health checks)
    tls: TlsMaterial | None = None


_credential = InternalCredential("")


def credential_of(settings: Settings, *, create_token: bool = True) -> InternalCredential:
    """The settings' credential; `create_token=False` for a client such as `tollgate
    health`, which uses the token when there is one but makes no token file."""
    tls = TlsMaterial.read(settings.grpc_tls) if settings.grpc_tls else None
    return InternalCredential(internal_token(settings, create=create_token), tls)


def use_credential(credential: InternalCredential) -> InternalCredential:
    """Make `credential` the process's own; returns the one it replaces."""
    global _credential
    add_secret(credential.token)  # never in a log line
    previous, _credential = _credential, credential
    return previous


def use_internal_credential(settings: Settings) -> InternalCredential:
    """For a service's main, before it makes any channel or server."""
    credential = credential_of(settings)
    use_credential(credential)
    return credential


def current_credential() -> InternalCredential:
    return _credential


def _metadata(credential: InternalCredential) -> AddMetadata | None:
    """What every call of a channel adds to its metadata: the trace context only when
    this process traces (off, a call pays nothing for it), then the token."""
    adds: list[AddMetadata] = [with_trace] if tracing.enabled() else []
    if credential.token:
        adds.append(TokenMetadata(credential.token))
    return chain(*adds) if adds else None


def aio_channel(addr: str, credential: InternalCredential | None = None) -> grpc.aio.Channel:
    credential = credential or _credential
    if credential.tls:
        channel = grpc.aio.secure_channel(
            addr, credential.tls.channel_credentials(), options=CHANNEL_OPTIONS
        )
    else:
        channel = grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)
    # A service this process hosts on the caller's loop is called in process.
    channel = inprocess.channel(addr, channel)
    add = _metadata(credential)
    return channel if add is None else AioMetadataChannel(channel, add)


def sync_channel(addr: str, credential: InternalCredential | None = None) -> grpc.Channel:
    credential = credential or _credential
    if credential.tls:
        channel = grpc.secure_channel(
            addr, credential.tls.channel_credentials(), options=CHANNEL_OPTIONS
        )
    else:
        channel = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
    # A blocking service this process hosts is called in process.
    channel = inprocess_blocking.channel(addr, channel)
    add = _metadata(credential)
    return channel if add is None else MetadataChannel(channel, add)


def _server_token(name: str) -> str:
    if not _credential.token:
        raise SystemExit(f"{name}: no internal credential; call use_internal_credential first")
    return _credential.token


def _listen(name: str, server: grpc.Server | grpc.aio.Server, listen: str) -> None:
    if _credential.tls:
        port = server.add_secure_port(listen, _credential.tls.server_credentials())
    else:
        port = server.add_insecure_port(listen)
    if port == 0:
        raise SystemExit(f"{name}: cannot listen on {listen}")


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
    stop: threading.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, or until `stop` is set when one is given (a process
    hosting several services handles the signals itself, and serves this one from a
    thread). `adders` pairs each add_*Servicer_to_server partial with the full service
    name that the health service reports."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name),
        options=SERVER_OPTIONS,
        interceptors=[TokenServerInterceptor(_server_token(name), then=Scoped())],
    )
    for add, _ in adders:
        add(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _listen(name, server, listen)
    # Also to callers in this process, when it hosts them too (inprocess_blocking.py);
    # before the port answers, so whoever saw it answer is called in process.
    inprocess_blocking.register(name, [add for add, _ in adders])
    server.start()
    _mark_serving(health_servicer, (service for _, service in adders))
    log.info("%s serving gRPC on %s", name, listen)

    stopped = stop or threading.Event()

    def _stop(*_: Any) -> None:
        stopped.set()

    if stop is None:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    stopped.wait()
    log.info("%s stopping", name)
    inprocess_blocking.unregister(name)
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=5).wait()
    if on_stop:
        on_stop()


async def start_aio_server(
    name: str, listen: str, adders: list[tuple[Adder, str]]
) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=SERVER_OPTIONS,
        interceptors=[AioTokenServerInterceptor(_server_token(name), then=AioScoped())],
    )
    for add, _ in adders:
        add(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _listen(name, server, listen)
    await server.start()
    for service in ("", *(s for _, s in adders)):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    # Also to callers on this loop, when the process hosts it with them (inprocess.py).
    inprocess.register(name, [add for add, _ in adders])
    log.info("%s serving gRPC on %s", name, listen)
    return server


def install_async_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def check_health(
    addr: str, timeout: float = 1.0, credential: InternalCredential | None = None
) -> bool:
    """True when the service at addr answers SERVING."""
    with sync_channel(addr, credential) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
