"""The gateway's model catalog keeps what the router lists: each name's route and the
upstream models a call to it may be served by (its candidates, for Budget's hold)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.gateway.catalog import ModelCatalog
from tollgate.config import Route
from tollgate.v1 import router_pb2


class FakeRouter:
    """Answers ListModels with a fixed list; ListRoutes with no rules."""

    def __init__(self, *models: router_pb2.ModelInfo) -> None:
        self.models = list(models)

    async def ListModels(self, request: Any, **kw: Any) -> router_pb2.ListModelsResponse:
        return router_pb2.ListModelsResponse(models=self.models)

    async def ListRoutes(self, request: Any, **kw: Any) -> router_pb2.ListRoutesResponse:
        return router_pb2.ListRoutesResponse()


def test_each_route_keeps_its_candidates() -> None:
    router = FakeRouter(
        router_pb2.ModelInfo(
            id="chat-default",
            served_by="cheap",
            provider="primary",
            provider_kind="openai",
            candidates=["cheap", "dear"],
        ),
        router_pb2.ModelInfo(
            id="dear", served_by="dear", provider="backup", provider_kind="openai"
        ),
    )
    catalog = ModelCatalog(router)  # type: ignore[arg-type]
    routes = asyncio.run(catalog.all())
    assert routes["chat-default"] == Route(
        "chat-default", "cheap", "primary", "openai", ("cheap", "dear")
    )
    assert routes["dear"].candidates == ()  # a router that names none: the served model alone
