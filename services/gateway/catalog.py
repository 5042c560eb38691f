"""The models the gateway may route, learnt from the router (Router.ListModels).

The gateway never reads provider configuration: upstream keys stay with the router.
A model the gateway has not seen triggers a refresh (at most one a second), so a
router that starts serving a new model is picked up without a restart."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from services.gateway.errors import unavailable
from tollgate.config import Route
from tollgate.v1 import router_pb2, router_pb2_grpc

log = logging.getLogger(__name__)

REFRESH_AFTER_MISS_SECONDS = 1.0
LIST_TIMEOUT_SECONDS = 5.0


class ModelCatalog:
    def __init__(self, router: router_pb2_grpc.RouterStub) -> None:
        self.router = router
        self.routes: dict[str, Route] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            try:
                reply = await self.router.ListModels(
                    router_pb2.ListModelsRequest(), timeout=LIST_TIMEOUT_SECONDS
                )
            except grpc.aio.AioRpcError as exc:
                log.warning("cannot list the router's models: %s", exc.code())
                raise unavailable("router") from None
            self.routes = {
                m.id: Route(m.id, m.served_by, m.provider, m.provider_kind) for m in reply.models
            }
            self._loaded_at = time.monotonic()

    async def get(self, model: str) -> Route | None:
        route = self.routes.get(model)
        if route is None and time.monotonic() - self._loaded_at > REFRESH_AFTER_MISS_SECONDS:
            await self.refresh()
            route = self.routes.get(model)
        return route

    async def all(self) -> dict[str, Route]:
        if not self.routes:
            await self.refresh()
        return self.routes
