"""`tollgate serve gateway`: the HTTP gateway, plus a gRPC health endpoint."""

from __future__ import annotations

import asyncio

import uvicorn

from services.gateway.app import create_app
from tollgate import tokens
from tollgate.config import Settings
from tollgate.db import make_engine
from tollgate.grpcutil import aio_channel, start_aio_server
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc, router_pb2_grpc


async def serve(settings: Settings) -> None:
    tokens.preload()  # the first request must not pay for parsing the vocabularies
    engine = make_engine(settings.database_url)
    channels = {
        name: aio_channel(settings.addrs[name]) for name in ("budget", "router", "metering")
    }
    app = create_app(
        engine,
        admin_token=settings.admin_token,
        budget=budget_pb2_grpc.BudgetStub(channels["budget"]),
        router=router_pb2_grpc.RouterStub(channels["router"]),
        metering=metering_pb2_grpc.MeteringStub(channels["metering"]),
        redis_url=settings.redis_url,
    )
    health = await start_aio_server("gateway", settings.listens["gateway"], [])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
    )
    try:
        await server.serve()
    finally:
        await health.stop(2)
        for channel in channels.values():
            await channel.close()
        engine.dispose()


def main(settings: Settings) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
