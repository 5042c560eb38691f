"""The route table: every client-facing model has a route, and a request's attempt
plan is its deployments, then its fallbacks' plans, cooling ones left out."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from services.router.routing.cooldown import Health, MemoryCooldowns, RecentError
from services.router.routing.table import Attempt, RouteTable
from tollgate.config import ConfigError, load_settings
from tollgate.routing_config import CooldownSettings, DeploymentConfig, RouteConfig

YAML = """
providers:
  - {name: openai-us, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [gpt-4o, o3]}
  - {name: openai-eu, kind: openai, base_url: "http://127.0.0.1:9/v1"}
  - {name: anthropic, kind: anthropic, models: [claude-sonnet-4-5]}
  - {name: gemini, kind: gemini, models: [gemini-2.5-flash, o3]}
routes:
  - model: chat-default
    deployments:
      - {provider: openai-us, model: gpt-4o, weight: 3}
      - {provider: openai-eu, model: gpt-4o, weight: 1}
    fallbacks: [claude-default, gemini-2.5-flash]
  - model: claude-default
    deployments: [{provider: anthropic, model: claude-sonnet-4-5}]
    fallbacks: [gpt-4o]
aliases: {fast: chat-default, flash: gemini-2.5-flash}
"""

US = "openai-us/gpt-4o"
EU = "openai-eu/gpt-4o"
CLAUDE = "anthropic/claude-sonnet-4-5"
GEMINI = "gemini/gemini-2.5-flash"


@pytest.fixture
def table(tmp_path: Path) -> RouteTable:
    path = tmp_path / "tollgate.yaml"
    path.write_text(YAML)
    return RouteTable.from_settings(
        load_settings({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_CONFIG": str(path)})
    )


def keys(plan: list[Attempt]) -> list[str]:
    return [a.deployment.key for a in plan]


def test_every_client_facing_name_has_a_route(table: RouteTable) -> None:
    assert table.models() == [
        "chat-default",
        "claude-default",
        "claude-sonnet-4-5",
        "fast",
        "flash",
        "gemini-2.5-flash",
        "gpt-4o",
        "o3",
    ]
    # A model listed by providers and named by no route: one deployment, the first lister.
    assert table.route("o3") == RouteConfig("o3", (DeploymentConfig("openai-us", "o3"),))
    # An alias is its target's route under another name.
    fast = table.route("fast")
    assert fast is not None and fast.fallbacks == ("claude-default", "gemini-2.5-flash")
    assert table.route("nope") is None
    with pytest.raises(KeyError):
        table.plan_for("nope", {}, random.Random(1))


def test_the_plan_is_the_deployments_then_each_fallbacks_plan_without_repeats(
    table: RouteTable,
) -> None:
    plans = Counter(
        tuple(keys(table.plan_for("chat-default", {}, random.Random(seed)))) for seed in range(400)
    )
    # claude-default's own fallback (gpt-4o = openai-us/gpt-4o) is already in the plan.
    assert set(plans) == {(US, EU, CLAUDE, GEMINI), (EU, US, CLAUDE, GEMINI)}
    assert plans[(US, EU, CLAUDE, GEMINI)] > plans[(EU, US, CLAUDE, GEMINI)] * 2
    first = table.plan_for("chat-default", {}, random.Random(1))[2]
    assert (first.route, first.health) == ("claude-default", Health.HEALTHY)
    # A fallback's plan brings its own fallbacks, depth first.
    assert keys(table.plan_for("claude-default", {}, random.Random(1))) == [CLAUDE, US]
    assert table.deployment_keys("fast") == [US, EU, CLAUDE, GEMINI]


def test_the_upstream_models_are_every_model_the_plan_may_reach(table: RouteTable) -> None:
    """What Budget must price and hold for a call (ModelInfo.candidates): the
    deployments' models and the fallbacks', transitively, each once, in plan order."""
    assert table.upstream_models("chat-default") == [
        "gpt-4o",
        "claude-sonnet-4-5",
        "gemini-2.5-flash",
    ]
    assert table.upstream_models("fast") == table.upstream_models("chat-default")
    assert table.upstream_models("claude-default") == ["claude-sonnet-4-5", "gpt-4o"]
    assert table.upstream_models("o3") == ["o3"]
    with pytest.raises(KeyError):
        table.upstream_models("nope")


def test_cooling_deployments_are_left_out_and_probes_kept(table: RouteTable) -> None:
    health = {US: Health.COOLING, CLAUDE: Health.PROBING, GEMINI: Health.PROBE}
    for seed in range(50):
        plan = table.plan_for("chat-default", health, random.Random(seed))
        assert keys(plan) == [EU, GEMINI]
        assert plan[1].health is Health.PROBE


def test_when_everything_cools_every_deployment_is_tried_rather_than_none(
    table: RouteTable,
) -> None:
    health = dict.fromkeys([US, EU, CLAUDE, GEMINI], Health.COOLING)
    assert sorted(keys(table.plan_for("chat-default", health, random.Random(2)))) == sorted(
        [US, EU, CLAUDE, GEMINI]
    )
    # The everyday case: a model with one deployment keeps being tried.
    plan = table.plan_for("o3", {"openai-us/o3": Health.COOLING}, random.Random(2))
    assert [(a.deployment.key, a.health) for a in plan] == [("openai-us/o3", Health.COOLING)]


def test_the_plan_asks_the_cooldown_store(table: RouteTable) -> None:
    async def main() -> list[str]:
        store = MemoryCooldowns(CooldownSettings(), clock=lambda: 1000.0)
        await store.failed(US, RecentError(1000.0, 503, "upstream_error", "down"))
        return keys(await table.plan("fast", store, random.Random(5)))

    assert asyncio.run(main()) == [EU, CLAUDE, GEMINI]


def test_an_alias_to_nothing_is_refused(tmp_path: Path) -> None:
    settings = replace(load_settings({"TOLLGATE_HOME": str(tmp_path)}), aliases={"x": "ghost"})
    with pytest.raises(ConfigError, match="no provider serves"):
        RouteTable.from_settings(settings)
