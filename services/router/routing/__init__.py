"""Routing: routes and deployments, weighted picks, cooldowns, retries and rules.

The Router service builds one `Routing` (wiring.py) at start-up and walks each
call's plan with `Failover` (docs/routing.md).
"""

from __future__ import annotations

from services.router.routing.cooldown import (
    CooldownStore,
    DeploymentState,
    Health,
    MemoryCooldowns,
    RecentError,
)
from services.router.routing.cooldown_redis import RedisCooldowns
from services.router.routing.failover import AllAttemptsFailed, FailedAttempt, Failover, Served
from services.router.routing.retry import Deadline, RetryPolicy, is_deployment_failure
from services.router.routing.rules import choose_model
from services.router.routing.table import Attempt, RouteTable
from services.router.routing.wiring import Routing

__all__ = [
    "AllAttemptsFailed",
    "Attempt",
    "CooldownStore",
    "Deadline",
    "DeploymentState",
    "FailedAttempt",
    "Failover",
    "Health",
    "MemoryCooldowns",
    "RecentError",
    "RedisCooldowns",
    "RetryPolicy",
    "RouteTable",
    "Routing",
    "Served",
    "choose_model",
    "is_deployment_failure",
]
