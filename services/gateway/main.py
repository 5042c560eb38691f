"""`tollgate serve gateway`: the HTTP gateway, plus a gRPC health endpoint."""

from __future__ import annotations

import asyncio
import logging
import os

import uvicorn

from services.gateway.app import create_app
from services.gateway.http_server import HttpLimits, protocol_for
from tollgate import tokens
from tollgate.config import Service, Settings, for_service
from tollgate.db import make_engine
from tollgate.grpcutil import (
    aio_channel,
    start_aio_server,
    sync_channel,
    use_internal_credential,
)
from tollgate.observability.metrics import serve_metrics
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc, responses_pb2_grpc, router_pb2_grpc

log = logging.getLogger(__name__)


def http_address(host: str, port: int) -> str:
    """The URL clients use for a listen address (an IPv6 host in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or until `stop` is set (one-process mode)."""
    settings = for_service(settings, Service.GATEWAY)  # no upstream key, ever
    use_internal_credential(settings)
    # The first request must not pay for parsing its model's vocabulary.
    tokens.preload(tokens.encodings_for(settings.model_names()))
    limits = HttpLimits.from_env(os.environ)
    engine = make_engine(settings.database_url)
    channels = {
        name: aio_channel(settings.addrs[name]) for name in ("budget", "router", "metering")
    }
    # The admin routes call Budget's admin RPCs off the event loop, on a blocking channel.
    admin_channel = sync_channel(settings.addrs["budget"])
    app = create_app(
        engine,
        admin_token=settings.admin_token,
        budget=budget_pb2_grpc.BudgetStub(channels["budget"]),
        router=router_pb2_grpc.RouterStub(channels["router"]),
        metering=metering_pb2_grpc.MeteringStub(channels["metering"]),
        redis_url=settings.redis_url,
        body_timeout_seconds=limits.body_timeout_seconds,
        admin_budget=budget_pb2_grpc.BudgetStub(admin_channel),
        # The router hosts the stored responses of the Responses API.
        responses=responses_pb2_grpc.ResponseStoreStub(channels["router"]),
        router_channel=channels["router"],  # the Batch API's files and batches
    )
    health = await start_aio_server("gateway", settings.listens["gateway"], [])
    # Its own listener, never the client-facing port (docs/observability.md).
    metrics = serve_metrics("gateway", settings.metrics_listens.get("gateway", ""))
    log.info(
        "gateway serving HTTP on %s; gRPC health on %s",
        http_address(settings.http_host, settings.http_port),
        settings.listens["gateway"],
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            http=protocol_for(limits),  # httptools, with a header timeout
            lifespan="off",
            access_log=False,  # the gateway's own access line (observe.py) replaces it
            log_config=None,  # uvicorn's lines go through the process's log setup
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
    )
    stopper = asyncio.create_task(_exit_on(stop, server)) if stop is not None else None
    try:
        await server.serve()
    finally:
        if stopper is not None:
            stopper.cancel()
        if metrics is not None:
            metrics.stop()
        await health.stop(2)
        for channel in channels.values():
            await channel.close()
        admin_channel.close()
        engine.dispose()


async def _exit_on(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True  # uvicorn finishes the calls in flight, then returns


def main(settings: Settings) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
