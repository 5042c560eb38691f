"""The YAML's `routes:` and `routing:` sections: how a client-facing model is served.

A route names the model clients send, the deployments that serve it (a provider
and the upstream model, sharing load by weight) and the fallbacks (other
client-facing models, tried in order when every deployment fails). `routing:`
holds the priority and task rules that may swap the asked model for another, the
cooldown of failing deployments, and the retry policy of one request.

Everything is checked here, at start-up, so the router never meets a route it cannot
serve: every deployment names a configured provider and a positive weight, every
fallback and rule names a model something serves, and fallbacks never loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RoutingConfigError(ValueError):
    """A bad `routes:` or `routing:` setting (config.py re-raises it as ConfigError)."""


class Priority(StrEnum):
    """A request's priority (header `X-Tollgate-Priority`)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class DeploymentConfig:
    """One upstream that can serve a route: a provider and the model it is asked for."""

    provider: str
    model: str
    weight: float = 1.0

    @property
    def key(self) -> str:
        """Names the deployment in cooldown state, logs and `tollgate routes`."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class RouteConfig:
    model: str  # the name clients send
    deployments: tuple[DeploymentConfig, ...]
    fallbacks: tuple[str, ...] = ()  # client-facing models, tried in order


@dataclass(frozen=True)
class CooldownSettings:
    """A failing deployment is skipped for `seconds`, times `factor` for each further
    failure in a row, at most `max_seconds`; then one call goes through as a probe."""

    seconds: float = 30.0
    factor: float = 2.0
    max_seconds: float = 600.0
    # A probe that never reports back (its router died) frees the slot after this.
    probe_seconds: float = 60.0
    recent_errors: int = 20  # kept per deployment, for `tollgate routes`


@dataclass(frozen=True)
class RetrySettings:
    """Between two attempts of one request: backoff * 2**(n-1), jittered, at most
    max_backoff; all attempts together end by the request's deadline."""

    backoff_seconds: float = 0.1
    max_backoff_seconds: float = 2.0
    max_attempts: int | None = None  # None: every deployment of the plan
    deadline_seconds: float | None = None  # None: the call deadline (max_call_seconds)


@dataclass(frozen=True)
class RoutingRules:
    """Per priority, asked model -> model to serve instead; per task, the model."""

    priorities: Mapping[Priority, Mapping[str, str]] = field(default_factory=dict)
    tasks: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingConfig:
    routes: tuple[RouteConfig, ...] = ()
    rules: RoutingRules = field(default_factory=RoutingRules)
    cooldown: CooldownSettings = field(default_factory=CooldownSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)


def routed_providers(data: Mapping[str, Any]) -> frozenset[str]:
    """Names of providers some route deploys to (they need no `models:` list)."""
    names: set[str] = set()
    routes = data.get("routes")
    for route in routes if isinstance(routes, list) else []:  # parse_routing says what is wrong
        if isinstance(route, dict):
            deployments = route.get("deployments")
            for deployment in deployments if isinstance(deployments, list) else []:
                if isinstance(deployment, dict) and deployment.get("provider"):
                    names.add(str(deployment["provider"]))
    return frozenset(names)


def parse_routing(
    data: Mapping[str, Any],
    provider_models: Mapping[str, tuple[str, ...]],
    aliases: Mapping[str, str],
    max_call_seconds: float,
) -> RoutingConfig:
    """The `routes:` and `routing:` sections, checked against the configured providers
    (name -> the models it lists) and aliases."""
    routes = _routes(data.get("routes"), provider_models)
    known = {m for models in provider_models.values() for m in models}
    known |= {r.model for r in routes} | set(aliases)
    for route in routes:
        if route.model in aliases:
            raise RoutingConfigError(
                f"routes: {route.model!r} is both a route and an alias; keep one"
            )
        for i, name in enumerate(route.fallbacks):
            if name not in known:
                raise RoutingConfigError(
                    f"routes[{route.model}].fallbacks[{i}]: {name!r} is not a model any "
                    "route, provider or alias serves"
                )
    _refuse_cycles(routes, aliases)
    section = data.get("routing") or {}
    if not isinstance(section, dict):
        raise RoutingConfigError("routing: must be a mapping")
    return RoutingConfig(
        routes=routes,
        rules=_rules(section, known),
        cooldown=_cooldown(section.get("cooldown")),
        retry=_retry(section.get("retry"), max_call_seconds),
    )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RoutingConfigError(f"{where}: must be a list")
    return value


def _number(value: Any, where: str, *, minimum: float = 0.0, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RoutingConfigError(f"{where}: {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise RoutingConfigError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < minimum or (positive and number <= 0):
        bound = "> 0" if positive else f">= {minimum:g}"
        raise RoutingConfigError(f"{where}: {value!r} must be a finite number {bound}")
    return number


def _routes(value: Any, provider_models: Mapping[str, tuple[str, ...]]) -> tuple[RouteConfig, ...]:
    routes: list[RouteConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(value, "routes")):
        where = f"routes[{i}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("model"), str)
            or not item["model"]
        ):
            raise RoutingConfigError(f"{where}: needs a model (the name clients send)")
        model = item["model"]
        if model in seen:
            raise RoutingConfigError(f"{where}: route {model!r} is listed twice")
        seen.add(model)
        deployments = _deployments(item.get("deployments"), f"{where}.deployments", provider_models)
        fallbacks = _list(item.get("fallbacks"), f"{where}.fallbacks")
        if not all(isinstance(f, str) and f for f in fallbacks):
            raise RoutingConfigError(f"{where}.fallbacks: must be a list of model names")
        if len(set(fallbacks)) != len(fallbacks):
            raise RoutingConfigError(f"{where}.fallbacks: a model is listed twice")
        routes.append(RouteConfig(model, deployments, tuple(fallbacks)))
    return tuple(routes)


def _deployments(
    value: Any, where: str, provider_models: Mapping[str, tuple[str, ...]]
) -> tuple[DeploymentConfig, ...]:
    items = _list(value, where)
    if not items:
        raise RoutingConfigError(f"{where}: name at least one deployment")
    deployments: list[DeploymentConfig] = []
    for j, item in enumerate(items):
        at = f"{where}[{j}]"
        if not isinstance(item, dict):
            raise RoutingConfigError(f"{at}: must be {{provider, model, weight}}")
        provider, model = item.get("provider"), item.get("model")
        if not isinstance(provider, str) or provider not in provider_models:
            known = ", ".join(sorted(provider_models)) or "none"
            raise RoutingConfigError(
                f"{at}.provider: {provider!r} is not a configured provider (known: {known})"
            )
        if not isinstance(model, str) or not model:
            raise RoutingConfigError(f"{at}.model: name the upstream model")
        deployment = DeploymentConfig(
            provider, model, _number(item.get("weight", 1), f"{at}.weight")
        )
        if any(d.key == deployment.key for d in deployments):
            raise RoutingConfigError(f"{at}: {deployment.key} is listed twice")
        deployments.append(deployment)
    return tuple(deployments)


def _refuse_cycles(routes: tuple[RouteConfig, ...], aliases: Mapping[str, str]) -> None:
    """Fallbacks must form no loop (through aliases too): a loop would never end."""
    fallbacks = {r.model: [aliases.get(f, f) for f in r.fallbacks] for r in routes}
    done: set[str] = set()

    def visit(model: str, path: list[str]) -> None:
        if model in path:
            loop = " -> ".join([*path[path.index(model) :], model])
            raise RoutingConfigError(f"routes: fallbacks loop ({loop})")
        if model in done:
            return
        for target in fallbacks.get(model, []):
            visit(target, [*path, model])
        done.add(model)

    for route in routes:
        visit(route.model, [])


def _rules(section: Mapping[str, Any], known: set[str]) -> RoutingRules:
    def model_map(value: Any, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RoutingConfigError(f"{where}: must map names to models")
        result: dict[str, str] = {}
        for name, target in value.items():
            if not isinstance(target, str) or target not in known:
                raise RoutingConfigError(
                    f"{where}.{name}: {target!r} is not a model any route, provider or alias serves"
                )
            result[str(name)] = target
        return result

    priorities = section.get("priorities") or {}
    if not isinstance(priorities, dict):
        raise RoutingConfigError("routing.priorities: must map high/medium/low to models")
    by_priority: dict[Priority, Mapping[str, str]] = {}
    for name, mapping in priorities.items():
        try:
            priority = Priority(str(name))
        except ValueError:
            raise RoutingConfigError(
                f"routing.priorities: {name!r} is not one of high, medium, low"
            ) from None
        where = f"routing.priorities.{priority}"
        by_priority[priority] = model_map(mapping, where)
        for asked in by_priority[priority]:
            if asked not in known:
                raise RoutingConfigError(f"{where}: {asked!r} is not a model clients can ask for")
    return RoutingRules(by_priority, model_map(section.get("tasks"), "routing.tasks"))


def _section(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RoutingConfigError(f"{where}: must be a mapping")
    unknown = set(map(str, value)) - allowed
    if unknown:
        raise RoutingConfigError(
            f"{where}: unknown setting {sorted(unknown)[0]!r} (known: {', '.join(sorted(allowed))})"
        )
    return value


def _cooldown(value: Any) -> CooldownSettings:
    defaults = CooldownSettings()
    names = {"seconds", "factor", "max_seconds", "probe_seconds", "recent_errors"}
    given = _section(value, "routing.cooldown", names)
    seconds = _number(given.get("seconds", defaults.seconds), "routing.cooldown.seconds")
    factor = _number(given.get("factor", defaults.factor), "routing.cooldown.factor", minimum=1)
    most = _number(
        given.get("max_seconds", max(seconds, defaults.max_seconds)),
        "routing.cooldown.max_seconds",
    )
    if most < seconds:
        raise RoutingConfigError("routing.cooldown.max_seconds: must be >= seconds")
    probe = _number(
        given.get("probe_seconds", defaults.probe_seconds), "routing.cooldown.probe_seconds"
    )
    recent = given.get("recent_errors", defaults.recent_errors)
    if isinstance(recent, bool) or not isinstance(recent, int) or not 0 <= recent <= 1000:
        raise RoutingConfigError("routing.cooldown.recent_errors: a whole number, 0 to 1000")
    return CooldownSettings(seconds, factor, most, probe, recent)


def _retry(value: Any, max_call_seconds: float) -> RetrySettings:
    defaults = RetrySettings()
    names = {"backoff_seconds", "max_backoff_seconds", "max_attempts", "deadline_seconds"}
    given = _section(value, "routing.retry", names)
    backoff = _number(
        given.get("backoff_seconds", defaults.backoff_seconds),
        "routing.retry.backoff_seconds",
        positive=False,
    )
    most = _number(
        given.get("max_backoff_seconds", max(backoff, defaults.max_backoff_seconds)),
        "routing.retry.max_backoff_seconds",
        positive=False,
    )
    attempts = given.get("max_attempts")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
    ):
        raise RoutingConfigError("routing.retry.max_attempts: a whole number >= 1")
    deadline = given.get("deadline_seconds")
    if deadline is not None:
        deadline = _number(deadline, "routing.retry.deadline_seconds")
        if deadline > max_call_seconds:
            raise RoutingConfigError(
                f"routing.retry.deadline_seconds ({deadline:g}) must not pass "
                f"max_call_seconds ({max_call_seconds:g}), the longest a call may run"
            )
    return RetrySettings(backoff, most, attempts, deadline)
