"""A request walks its plan: deployment failures cool the deployment and move on
after a backoff, request failures end it at once, and one deadline caps it all."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from services.router.providers.base import UpstreamError
from services.router.routing.cooldown import Health, MemoryCooldowns, RecentError
from services.router.routing.failover import AllAttemptsFailed, Failover, Served
from services.router.routing.retry import Deadline, RetryPolicy
from services.router.routing.table import Attempt, RouteTable
from tests.gateway.ratelimit_backends import Clock
from tollgate.routing_config import (
    CooldownSettings,
    DeploymentConfig,
    RetrySettings,
    RouteConfig,
)

A, B, C = (DeploymentConfig(p, "m") for p in ("a", "b", "c"))
TABLE = RouteTable(
    {
        "main": RouteConfig("main", (A, B), ("spare",)),
        "spare": RouteConfig("spare", (C,)),
    }
)
DOWN = UpstreamError(503, "server_error", "upstream_error", "down")
LIMITED = UpstreamError(429, "rate_limit_error", "upstream_rate_limited", "slow down")
BAD = UpstreamError(400, "invalid_request_error", "", "bad messages", "messages")


class World:
    """Deployments that answer or fail as told, on a clock the test owns."""

    def __init__(self, outcomes: dict[str, UpstreamError | None], settings: RetrySettings) -> None:
        self.clock = Clock()
        self.outcomes = outcomes
        self.called: list[str] = []
        self.waits: list[float] = []
        self.cooldowns = MemoryCooldowns(CooldownSettings(seconds=30), self.clock)
        self.settings = settings

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)

    async def call(self, attempt: Attempt) -> str:
        self.called.append(attempt.deployment.provider)
        error = self.outcomes.get(attempt.deployment.provider)
        if error is not None:
            raise error
        return f"answer from {attempt.deployment.provider}"

    def failover(self, deadline_seconds: float = 60) -> Failover:
        return Failover(
            self.cooldowns,
            RetryPolicy(self.settings, random.Random(1)),
            Deadline(deadline_seconds, self.clock),
            sleep=self.sleep,
            wall_clock=self.clock,
        )

    def serve(
        self,
        call: Callable[[Attempt], Awaitable[str]] | None = None,
        deadline_seconds: float = 60,
    ) -> Served[str]:
        async def main() -> Served[str]:
            plan = await TABLE.plan("main", self.cooldowns, random.Random(1))
            plan.sort(key=lambda a: a.deployment.provider)  # a, b, c: no weighted pick here
            return await self.failover(deadline_seconds).run(plan, call or self.call)

        return asyncio.run(main())


FAST = RetrySettings(backoff_seconds=0.1, max_backoff_seconds=1)


def test_failures_move_on_in_plan_order_to_the_fallback() -> None:
    world = World({"a": DOWN, "b": LIMITED}, FAST)
    served = world.serve()
    assert world.called == ["a", "b", "c"]
    assert (served.value, served.attempt.route, served.attempts) == ("answer from c", "spare", 3)
    assert [(f.attempt.deployment.provider, f.error.http_status) for f in served.failures] == [
        ("a", 503),
        ("b", 429),
    ]
    # Jittered exponential backoff between attempts: 0.05-0.1 s, then 0.1-0.2 s.
    assert 0.05 <= world.waits[0] <= 0.1 and 0.1 <= world.waits[1] <= 0.2
    # The failed deployments are cooling: the next request goes straight to c.
    world.called.clear()
    world.serve()
    assert world.called == ["c"]


def test_a_request_failure_is_not_retried_and_cools_nothing() -> None:
    world = World({"a": BAD}, FAST)
    with pytest.raises(AllAttemptsFailed) as failed:
        world.serve()
    assert failed.value.error is BAD and world.called == ["a"]
    assert asyncio.run(world.cooldowns.health(["a/m"])) == {"a/m": Health.HEALTHY}


def test_when_every_deployment_fails_the_last_error_is_the_answer() -> None:
    world = World({"a": DOWN, "b": DOWN, "c": LIMITED}, FAST)
    with pytest.raises(AllAttemptsFailed) as failed:
        world.serve()
    assert failed.value.error is LIMITED
    assert len(failed.value.failures) == 3
    assert len(world.waits) == 2  # no wait after the last attempt


def test_max_attempts_ends_the_walk() -> None:
    world = World({"a": DOWN, "b": DOWN}, RetrySettings(0.1, 1, max_attempts=2))
    with pytest.raises(AllAttemptsFailed):
        world.serve()
    assert world.called == ["a", "b"]


def test_one_deadline_caps_the_sum_of_attempts() -> None:
    world = World({}, FAST)

    async def hangs(attempt: Attempt) -> str:
        world.called.append(attempt.deployment.provider)
        await asyncio.sleep(30)
        return "never"

    with pytest.raises(AllAttemptsFailed) as failed:
        world.serve(hangs, deadline_seconds=0.2)
    assert (failed.value.error.http_status, failed.value.error.code) == (504, "upstream_timeout")
    assert world.called == ["a"]


def test_a_slow_failure_leaves_less_time_for_the_next_attempt() -> None:
    world = World({}, FAST)

    async def slow_then_hang(attempt: Attempt) -> str:
        world.called.append(attempt.deployment.provider)
        if attempt.deployment.provider == "a":
            world.clock.advance(59.99)  # a used nearly all of the minute, then failed
            raise DOWN
        await asyncio.sleep(30)
        return "never"

    with pytest.raises(AllAttemptsFailed) as failed:
        world.serve(slow_then_hang, deadline_seconds=60)
    # No time left to wait and try b: the request ends with a's error.
    assert failed.value.error is DOWN and world.called == ["a"]


def test_after_a_cooldown_one_request_probes_and_heals_the_deployment() -> None:
    world = World({"a": DOWN}, FAST)
    world.serve()
    world.outcomes.clear()
    world.clock.advance(31)
    world.called.clear()
    served = world.serve()
    assert world.called == ["a"] and served.attempt.health is Health.PROBE
    assert asyncio.run(world.cooldowns.health(["a/m"])) == {"a/m": Health.HEALTHY}


def test_a_probe_claimed_elsewhere_is_skipped() -> None:
    world = World({"a": DOWN}, FAST)
    world.serve()
    world.outcomes.clear()
    world.clock.advance(31)
    assert asyncio.run(world.cooldowns.begin("a/m"))  # another request probes a
    world.called.clear()
    world.serve()
    assert world.called == ["b"]


def test_with_every_deployment_cooling_the_request_still_tries_them() -> None:
    world = World({}, FAST)

    async def cool_all() -> None:
        for key in ("a/m", "b/m", "c/m"):
            await world.cooldowns.failed(key, RecentError(0, 503, "e", "m"))

    asyncio.run(cool_all())
    served = world.serve()
    assert world.called == ["a"] and served.attempt.health is Health.COOLING
