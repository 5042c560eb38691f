"""The route table: for a model a client sends, the deployments to try, in order.

Every client-facing name has a route: the YAML's `routes:`, then each model a
provider lists that no route names (a route with that one deployment; the first
provider listing it wins), then each alias (its target's route under another
name). A request's attempt plan is its route's deployments (a weighted pick among
those not cooling down, then the rest by weight), then each fallback's own plan in
order, never the same deployment twice. Cooling deployments are left out, unless
every deployment of the plan is cooling: then all are tried in order rather than
failing a call without trying (which also keeps a one-deployment model working).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from services.router.routing.cooldown import CooldownStore, Health
from services.router.routing.picker import weighted_order
from tollgate.config import ConfigError, Settings
from tollgate.routing_config import DeploymentConfig, RouteConfig


@dataclass(frozen=True)
class Attempt:
    """One deployment to try for a request, and why it is in the plan."""

    route: str  # the client-facing model whose route holds the deployment
    deployment: DeploymentConfig
    health: Health = Health.HEALTHY  # when the plan was made


class RouteTable:
    def __init__(self, routes: Mapping[str, RouteConfig]) -> None:
        self._routes = dict(routes)
        # Every call asks for its model's chain and keys: walked once a model, not per call.
        self._chains: dict[str, list[RouteConfig]] = {}
        self._keys: dict[str, list[str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteTable:
        routes = {r.model: r for r in settings.routing.routes}
        for provider in settings.providers:
            for model in provider.models:
                if model not in routes:
                    routes[model] = RouteConfig(model, (DeploymentConfig(provider.name, model),))
        for alias, target in settings.aliases.items():
            if target not in routes:
                raise ConfigError(f"alias {alias!r} points at {target!r}, which no provider serves")
            routes[alias] = RouteConfig(alias, routes[target].deployments, routes[target].fallbacks)
        return cls(routes)

    def models(self) -> list[str]:
        return sorted(self._routes)

    def route(self, model: str) -> RouteConfig | None:
        return self._routes.get(model)

    def _chain(self, model: str) -> list[RouteConfig]:
        """The route, then each fallback's chain, depth first, each route once."""
        chain = self._chains.get(model)
        if chain is None:
            chain = self._chains[model] = self._walk(model)
        return chain

    def _walk(self, model: str) -> list[RouteConfig]:
        chain: list[RouteConfig] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            route = self._routes.get(name)
            if route is None or name in seen:
                return
            seen.add(name)
            chain.append(route)
            for fallback in route.fallbacks:
                visit(fallback)

        if model not in self._routes:
            raise KeyError(model)
        visit(model)
        return chain

    def deployment_keys(self, model: str) -> list[str]:
        """Every deployment a request for `model` may reach (KeyError if unknown)."""
        keys = self._keys.get(model)
        if keys is None:
            keys = []
            for route in self._chain(model):
                keys += [d.key for d in route.deployments if d.key not in keys]
            self._keys[model] = keys
        return list(keys)

    def upstream_models(self, model: str) -> list[str]:
        """Every upstream model a request for `model` may be served by, each once, in
        plan order (KeyError if unknown): what Budget must be able to price and hold."""
        models = (d.model for route in self._chain(model) for d in route.deployments)
        return list(dict.fromkeys(models))

    def plan_for(
        self, model: str, health: Mapping[str, Health], rng: random.Random
    ) -> list[Attempt]:
        """The attempts for a request for `model`, given each deployment's health
        (missing: healthy). KeyError when no route serves `model`."""
        everything: list[Attempt] = []
        seen: set[str] = set()
        for route in self._chain(model):
            fresh = [d for d in route.deployments if d.key not in seen]
            seen.update(d.key for d in fresh)
            usable = [d for d in fresh if health.get(d.key, Health.HEALTHY).usable]
            cooling = [d for d in fresh if d not in usable]
            ordered = weighted_order(usable, rng) + weighted_order(cooling, rng)
            everything += [
                Attempt(route.model, d, health.get(d.key, Health.HEALTHY)) for d in ordered
            ]
        usable_attempts = [a for a in everything if a.health.usable]
        return usable_attempts or everything

    async def plan(self, model: str, cooldowns: CooldownStore, rng: random.Random) -> list[Attempt]:
        """`plan_for` with the health the cooldown store knows now."""
        health = await cooldowns.health(self.deployment_keys(model))
        return self.plan_for(model, health, rng)
