"""Weighted choice among deployments, and the order the rest are tried in.

The first deployment is picked at random in proportion to its weight, so traffic
splits as configured; the others follow by weight, heaviest first (ties keep the
configured order), so a failure moves to the next-best deployment, not a random one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from tollgate.routing_config import DeploymentConfig


def pick(deployments: Sequence[DeploymentConfig], rng: random.Random) -> DeploymentConfig:
    """One deployment, with probability weight / total weight."""
    if not deployments:
        raise ValueError("no deployment to pick from")
    point = rng.random() * sum(d.weight for d in deployments)
    for deployment in deployments:
        point -= deployment.weight
        if point < 0:
            return deployment
    return deployments[-1]  # rounding left a sliver past the last weight


def weighted_order(
    deployments: Sequence[DeploymentConfig], rng: random.Random
) -> list[DeploymentConfig]:
    """A weighted pick first, then the others by weight, heaviest first."""
    if not deployments:
        return []
    first = pick(deployments, rng)
    rest = sorted((d for d in deployments if d is not first), key=lambda d: -d.weight)
    return [first, *rest]
