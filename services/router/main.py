"""The router process: providers, the usage recorder and the Router gRPC service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import grpc

from services.router.providers import Provider, build_providers
from services.router.recorder import UsageRecorder
from services.router.server import RouterServicer
from tollgate import telemetry, tokens
from tollgate.config import Settings
from tollgate.grpcutil import install_async_stop, start_aio_server
from tollgate.v1 import router_pb2_grpc

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
RECORDER_FLUSH_SECONDS = 5.0


@dataclass
class RunningRouter:
    server: grpc.aio.Server
    recorder: UsageRecorder
    providers: Mapping[str, Provider]

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Finish in-flight calls (up to `grace`), flush usage records, close clients."""
        await self.server.stop(grace)
        await self.recorder.close(RECORDER_FLUSH_SECONDS)
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception:
                log.exception("closing provider %s failed", provider.name)


async def start_router(settings: Settings, listen: str | None = None) -> RunningRouter:
    providers = build_providers(settings)
    recorder = UsageRecorder(settings.spool_dir, settings.addrs["metering"])
    await recorder.start()
    servicer = RouterServicer(settings.routes(), providers, recorder, settings.max_call_seconds)
    server = await start_aio_server(
        "router",
        listen or settings.listens["router"],
        [(partial(router_pb2_grpc.add_RouterServicer_to_server, servicer), "tollgate.v1.Router")],
    )
    return RunningRouter(server, recorder, providers)


async def serve(settings: Settings) -> None:
    router = await start_router(settings)
    stop = asyncio.Event()
    install_async_stop(stop)
    await stop.wait()
    log.info("router stopping")
    await router.stop()


def main(settings: Settings) -> None:
    telemetry.setup("router", settings.log_level)
    tokens.preload()  # before serving: counting a broken stream must not wait a second
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
