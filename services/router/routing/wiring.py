"""What the Router service routes with: the route table, the cooldown store (in
memory, or in Redis shared by every replica when `TOLLGATE_REDIS_URL` is set), the
retry policy and the priority/task rules, built once at start-up.

`plan` gives a request's attempts, `failover` what they share (one deadline, never
longer than the call's). The asked name's first deployment is the call's reference
model: savings are priced against what the client would have got.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.router.routing.cooldown import CooldownStore, MemoryCooldowns
from services.router.routing.cooldown_redis import RedisCooldowns
from services.router.routing.failover import Failover
from services.router.routing.retry import Deadline, RetryPolicy
from services.router.routing.table import Attempt, RouteTable
from tollgate.config import Route, Settings
from tollgate.routing_config import (
    DeploymentConfig,
    RetrySettings,
    RouteConfig,
    RoutingConfig,
    RoutingRules,
)


@dataclass
class Routing:
    table: RouteTable
    cooldowns: CooldownStore
    retry: RetrySettings = field(default_factory=RetrySettings)
    rules: RoutingRules = field(default_factory=RoutingRules)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, settings: Settings) -> Routing:
        config: RoutingConfig = settings.routing
        cooldowns: CooldownStore
        if settings.redis_url:
            cooldowns = RedisCooldowns.from_url(settings.redis_url, config.cooldown)
        else:
            cooldowns = MemoryCooldowns(config.cooldown)
        return cls(RouteTable.from_settings(settings), cooldowns, config.retry, config.rules)

    @classmethod
    def of_routes(cls, routes: Mapping[str, Route]) -> Routing:
        """One deployment a model, cooldowns in memory: for servicers built by hand."""
        table = {
            name: RouteConfig(name, (DeploymentConfig(r.provider, r.served_model),))
            for name, r in routes.items()
        }
        return cls(RouteTable(table), MemoryCooldowns(RoutingConfig().cooldown))

    async def plan(self, model: str) -> list[Attempt]:
        """The attempts for `model` (KeyError when no route serves it)."""
        return await self.table.plan(model, self.cooldowns, self.rng)

    def deadline_seconds(self, max_call_seconds: float) -> float:
        """How long all attempts of a request may take, waits included."""
        return min(self.retry.deadline_seconds or max_call_seconds, max_call_seconds)

    def failover(self, max_call_seconds: float) -> Failover:
        deadline = Deadline(self.deadline_seconds(max_call_seconds))
        return Failover(self.cooldowns, RetryPolicy(self.retry, self.rng), deadline)

    def reference_model(self, asked: str, fallback: str) -> str:
        """The upstream model the asked name's first deployment serves."""
        route = self.table.route(asked) or self.table.route(fallback)
        return route.deployments[0].model if route else ""

    async def aclose(self) -> None:
        await self.cooldowns.aclose()
