"""Weighted picks share traffic as configured; the rest follow by weight."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from services.router.routing.picker import pick, weighted_order
from tollgate.routing_config import DeploymentConfig

US = DeploymentConfig("openai-us", "gpt-4o", 3)
EU = DeploymentConfig("openai-eu", "gpt-4o", 1)
ASIA = DeploymentConfig("azure-asia", "gpt-4o", 0.5)


@pytest.mark.parametrize("deployments", [(US, EU), (US, EU, ASIA), (ASIA, EU, US)])
def test_picks_follow_the_weights_within_five_percent(
    deployments: tuple[DeploymentConfig, ...],
) -> None:
    rng = random.Random(20260901)
    picks = Counter(pick(deployments, rng).key for _ in range(10_000))
    total = sum(d.weight for d in deployments)
    for deployment in deployments:
        share = picks[deployment.key] / 10_000
        expected = deployment.weight / total
        assert abs(share - expected) <= 0.05 * expected, (deployment.key, share, expected)


def test_a_lone_deployment_is_always_picked() -> None:
    rng = random.Random(1)
    assert {pick([EU], rng) for _ in range(100)} == {EU}


def test_no_deployments_is_an_error_not_a_silent_none() -> None:
    with pytest.raises(ValueError):
        pick([], random.Random(1))


def test_after_the_pick_the_rest_follow_heaviest_first() -> None:
    rng = random.Random(7)
    orders = {tuple(d.key for d in weighted_order([ASIA, EU, US], rng)) for _ in range(500)}
    assert orders == {
        (US.key, EU.key, ASIA.key),
        (EU.key, US.key, ASIA.key),
        (ASIA.key, US.key, EU.key),
    }


def test_equal_weights_keep_the_configured_order_after_the_pick() -> None:
    a, b, c = (DeploymentConfig(p, "m", 2) for p in "abc")
    rng = random.Random(3)
    for _ in range(50):
        first, *rest = weighted_order([a, b, c], rng)
        assert rest == [d for d in (a, b, c) if d is not first]
