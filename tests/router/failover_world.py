"""A router over routes whose deployments are mock upstreams of any wire format,
each failing as a test tells it (status, hang, broken stream), for the failover tests.

Routes, by the name clients send:
- `chat`: deployments `first` then `second` (weights 1000:1), fallbacks `spare`
  then `last`; the router's random source is steady, so `first` is always the
  weighted pick (a free one picks `second` once in 1,001 calls, which failed CI);
- `spare`: one deployment, `third`; `last`: one deployment, `fourth`.
Every deployment serves the upstream model named after it (`m-first`...).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.router.harness import (
    UPSTREAM_KEY,
    FakeMetering,
    RouterHarness,
    make_settings,
    running_router,
)
from tollgate_mocks.anthropic_upstream import MockAnthropic
from tollgate_mocks.gemini_upstream import MockGemini
from tollgate_mocks.openai_upstream import MockUpstream

MOCKS: dict[str, Callable[..., MockUpstream]] = {
    "openai": MockUpstream,
    "anthropic": MockAnthropic,
    "gemini": MockGemini,
}
DEPLOYMENTS = ("first", "second", "third", "fourth")
# Fast cooldowns and backoffs, so a test sees a cooldown start and end.
ROUTING: dict[str, Any] = {
    "cooldown": {"seconds": 0.4, "factor": 2, "max_seconds": 5, "probe_seconds": 5},
    "retry": {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
    "priorities": {"low": {"chat": "spare"}},
    "tasks": {"summarize": "last"},
}


class SteadyRandom(random.Random):
    """Always the middle of [0, 1): the heaviest deployment is the weighted pick,
    and backoffs take three quarters of their ceiling."""

    def random(self) -> float:
        return 0.5


def model_of(deployment: str) -> str:
    return f"m-{deployment}"


@dataclass
class FailoverWorld:
    router: RouterHarness
    mocks: dict[str, MockUpstream]  # by deployment (provider) name

    def calls(self) -> dict[str, int]:
        """Chat calls each deployment's upstream received."""
        return {name: len(mock.state.requests) for name, mock in self.mocks.items()}


@asynccontextmanager
async def failover_world(
    tmp_path: Path,
    metering: FakeMetering,
    kind: str,
    faults: dict[str, dict[str, Any]],
    routing: dict[str, Any] | None = None,
) -> AsyncIterator[FailoverWorld]:
    """Each deployment a mock of `kind` started with its `faults` (by deployment);
    `routing` is merged over ROUTING."""
    mocks = {
        name: MOCKS[kind](api_key=UPSTREAM_KEY, **faults.get(name, {})).start()
        for name in DEPLOYMENTS
    }
    try:
        providers = [
            {
                "name": name,
                "kind": kind,
                "base_url": mock.base_url,
                "api_key_env": "UPSTREAM_KEY",
                # A hang is a timeout well inside the request's deadline.
                "timeout_seconds": 1.0,
            }
            for name, mock in mocks.items()
        ]

        def route(model: str, names: list[str], fallbacks: list[str]) -> dict[str, Any]:
            weights = [1000, 1]
            deployments = [
                {"provider": n, "model": model_of(n), "weight": w}
                for n, w in zip(names, weights, strict=False)
            ]
            return {"model": model, "deployments": deployments, "fallbacks": fallbacks}

        routes = [
            route("chat", ["first", "second"], ["spare", "last"]),
            route("spare", ["third"], []),
            route("last", ["fourth"], []),
        ]
        settings = make_settings(
            tmp_path,
            metering.addr,
            providers,
            routes=routes,
            routing={**ROUTING, **(routing or {})},
        )
        async with running_router(settings) as router:
            router.router.routing.rng = SteadyRandom()
            yield FailoverWorld(router, mocks)
    finally:
        for mock in mocks.values():
            mock.stop()
