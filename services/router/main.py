"""The router process: providers, the usage recorder, the Router gRPC service and the
ResponseStore (stored Responses API responses)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import grpc

from services.router.batch.service import BatchApi, start_batch_api
from services.router.cache import ResponseCache, build_response_cache
from services.router.providers import Provider, build_providers
from services.router.recorder import UsageRecorder
from services.router.responses_store import ResponseStoreServicer
from services.router.routing.wiring import Routing
from services.router.server import RouterServicer
from tollgate import telemetry, tokens
from tollgate.config import Service, Settings, for_service
from tollgate.db import make_engine
from tollgate.grpcutil import install_async_stop, start_aio_server, use_internal_credential
from tollgate.observability.metrics import serve_metrics
from tollgate.v1 import responses_pb2_grpc, router_pb2_grpc

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
RESPONSE_STORE_POOL = 4
RECORDER_FLUSH_SECONDS = 5.0


@dataclass
class RunningRouter:
    server: grpc.aio.Server
    recorder: UsageRecorder
    providers: Mapping[str, Provider]
    routing: Routing
    cache: ResponseCache = field(default_factory=ResponseCache.disabled)
    response_store: ResponseStoreServicer | None = None
    batch_api: BatchApi | None = None  # the Batch API's services and runner

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Finish in-flight calls (up to `grace`), flush usage records, close clients."""
        if self.batch_api is not None:  # its running lines record usage: before the recorder
            await self.batch_api.stop(grace)
        await self.server.stop(grace)
        await self.recorder.close(RECORDER_FLUSH_SECONDS)
        try:
            await self.cache.aclose()  # after its last writes
        except Exception:
            log.exception("closing the response cache failed")
        if self.response_store is not None:
            self.response_store.close()
        try:
            await self.routing.aclose()
        except Exception:
            log.exception("closing the cooldown store failed")
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception:
                log.exception("closing provider %s failed", provider.name)


async def start_router(settings: Settings, listen: str | None = None) -> RunningRouter:
    settings = for_service(settings, Service.ROUTER)  # no admin token
    use_internal_credential(settings)
    providers = build_providers(settings)
    recorder = UsageRecorder(settings.spool_dir, settings.addrs["metering"])
    await recorder.start()
    # Cooldowns in Redis, shared by the replicas, when TOLLGATE_REDIS_URL is set.
    routing = Routing.from_settings(settings)
    # The response cache: in Redis when TOLLGATE_REDIS_URL is set, else the database.
    cache = build_response_cache(settings, recorder.put)
    servicer = RouterServicer(
        settings.routes(), providers, recorder, settings.max_call_seconds, routing, cache
    )
    engine = make_engine(
        settings.database_url, pool_size=RESPONSE_STORE_POOL, max_overflow=RESPONSE_STORE_POOL
    )
    store = ResponseStoreServicer(engine, settings.responses_ttl_seconds)
    # Files, batches and the runner of their lines (docs/batches.md).
    batch_api = start_batch_api(settings, providers, recorder, routing)
    server = await start_aio_server(
        "router",
        listen or settings.listens["router"],
        [
            (partial(router_pb2_grpc.add_RouterServicer_to_server, servicer), "tollgate.v1.Router"),
            (
                partial(responses_pb2_grpc.add_ResponseStoreServicer_to_server, store),
                "tollgate.v1.ResponseStore",
            ),
            *batch_api.services,
        ],
    )
    return RunningRouter(server, recorder, providers, routing, cache, store, batch_api)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or until `stop` is set (one-process mode)."""
    # Before serving: counting a broken stream must not wait a second.
    tokens.preload(tokens.encodings_for(settings.model_names()))
    router = await start_router(settings)
    metrics = serve_metrics("router", settings.metrics_listens.get("router", ""))
    if stop is None:
        stop = asyncio.Event()
        install_async_stop(stop)
    await stop.wait()
    log.info("router stopping")
    await router.stop()
    if metrics is not None:
        metrics.stop()


def main(settings: Settings) -> None:
    telemetry.setup_service("router", settings)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
