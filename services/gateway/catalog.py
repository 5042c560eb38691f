"""The models the gateway may route, learnt from the router (Router.ListModels).

The gateway never reads provider configuration: upstream keys stay with the router.
A model the gateway has not seen triggers a refresh (at most one a second), so a
router that starts serving a new model is picked up without a restart. The routing
rules (priority and task rules, Router.ListRoutes) are learnt with the models, and
read again with them at most every `RULES_MAX_AGE_SECONDS`.

Each route's `candidates` are every upstream model a call to it may be served by (its
deployments and fallbacks): the gateway sends them to Budget, which holds the dearest
one's worst case, so a fallback never bills more than the call's hold."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from services.gateway.errors import ApiError, unavailable
from tollgate.config import Route
from tollgate.routing_config import Priority, RoutingRules
from tollgate.v1 import common_pb2, router_pb2, router_pb2_grpc

log = logging.getLogger(__name__)

REFRESH_AFTER_MISS_SECONDS = 1.0
LIST_TIMEOUT_SECONDS = 5.0
RULES_MAX_AGE_SECONDS = 30.0
PRIORITIES = {
    common_pb2.PRIORITY_HIGH: Priority.HIGH,
    common_pb2.PRIORITY_MEDIUM: Priority.MEDIUM,
    common_pb2.PRIORITY_LOW: Priority.LOW,
}


def rules_of(reply: router_pb2.ListRoutesResponse) -> RoutingRules:
    priorities = {
        PRIORITIES[rule.priority]: dict(rule.models)
        for rule in reply.priority_rules
        if rule.priority in PRIORITIES
    }
    return RoutingRules(priorities, dict(reply.task_rules))


class ModelCatalog:
    def __init__(self, router: router_pb2_grpc.RouterStub) -> None:
        self.router = router
        self.routes: dict[str, Route] = {}
        self.rules = RoutingRules()
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
                m.id: Route(
                    m.id,
                    m.served_by,
                    m.provider,
                    m.provider_kind,
                    tuple(m.candidates),
                    tuple(m.native_apis),
                )
                for m in reply.models
            }
            self._loaded_at = time.monotonic()
            try:
                routes = await self.router.ListRoutes(
                    router_pb2.ListRoutesRequest(), timeout=LIST_TIMEOUT_SECONDS
                )
            except grpc.aio.AioRpcError as exc:  # keep the rules known so far
                log.warning("cannot list the router's routing rules: %s", exc.code())
            else:
                self.rules = rules_of(routes)

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

    async def routing_rules(self) -> RoutingRules:
        """The priority and task rules (refreshed when older than RULES_MAX_AGE_SECONDS)."""
        if time.monotonic() - self._loaded_at > RULES_MAX_AGE_SECONDS:
            try:
                await self.refresh()
            except ApiError:  # the router is away: the call itself will say so
                pass
        return self.rules
