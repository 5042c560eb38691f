"""Cooldowns start on failure, grow with failures in a row, end after their time or
with a successful probe; in one process and, through Redis, across replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from services.router.routing.cooldown import (
    CooldownStore,
    Health,
    MemoryCooldowns,
    RecentError,
    cooldown_seconds,
)
from services.router.routing.cooldown_redis import RedisCooldowns
from tests.gateway.ratelimit_backends import REDIS_URL, Clock, drop_prefix
from tollgate.routing_config import CooldownSettings

SETTINGS = CooldownSettings(
    seconds=30, factor=2, max_seconds=100, probe_seconds=10, recent_errors=3
)
KEY = "openai-us/gpt-4o"
KINDS = ("memory", "redis")


def err(clock: Clock, status: int = 503, code: str = "upstream_error") -> RecentError:
    return RecentError(clock(), status, code, f"HTTP {status}")


@asynccontextmanager
async def store_of(
    kind: str, clock: Clock, prefix: str | None = None
) -> AsyncIterator[CooldownStore]:
    if kind == "memory":
        yield MemoryCooldowns(SETTINGS, clock)
        return
    prefix = prefix or f"test:cooldown:{uuid.uuid4().hex}"
    store = RedisCooldowns(aioredis.Redis.from_url(REDIS_URL), SETTINGS, prefix=prefix, clock=clock)
    try:
        yield store
    finally:
        await store.aclose()
        drop_prefix(prefix)


Scenario = Callable[[CooldownStore, Clock], Awaitable[None]]


def run(kind: str, scenario: Scenario) -> None:
    async def main() -> None:
        clock = Clock()
        async with store_of(kind, clock) as store:
            await scenario(store, clock)

    asyncio.run(main())


async def health(store: CooldownStore, key: str = KEY) -> Health:
    return (await store.health([key]))[key]


def test_cooldown_grows_with_failures_in_a_row_up_to_the_cap() -> None:
    assert [cooldown_seconds(SETTINGS, n) for n in range(1, 6)] == [30, 60, 100, 100, 100]
    assert cooldown_seconds(SETTINGS, 10_000) == 100  # no overflow


@pytest.mark.parametrize("kind", KINDS)
def test_a_failure_cools_the_deployment_until_its_time_is_up(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        assert await health(store) is Health.HEALTHY
        assert await store.failed(KEY, err(clock)) == pytest.approx(30)
        assert await store.health([KEY, "other/m"]) == {
            KEY: Health.COOLING,
            "other/m": Health.HEALTHY,
        }
        assert not await store.begin(KEY)
        clock.advance(29.9)
        assert await health(store) is Health.COOLING
        clock.advance(0.2)
        assert await health(store) is Health.PROBE

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_after_the_cooldown_exactly_one_call_probes_and_its_success_heals(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        await store.failed(KEY, err(clock))
        clock.advance(31)
        assert await store.begin(KEY)  # the probe
        assert await health(store) is Health.PROBING
        assert not await store.begin(KEY)  # everyone else keeps skipping it
        await store.succeeded(KEY)
        assert await health(store) is Health.HEALTHY
        assert await store.begin(KEY)
        # Healed: the next failure starts again at the first cooldown.
        assert await store.failed(KEY, err(clock)) == pytest.approx(30)

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_probe_cools_for_longer(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        await store.failed(KEY, err(clock))
        clock.advance(31)
        assert await store.begin(KEY)
        assert await store.failed(KEY, err(clock)) == pytest.approx(60)
        state = await store.state(KEY)
        assert (state.health, state.failures) == (Health.COOLING, 2)
        assert state.cooling_until == pytest.approx(clock() + 60)
        clock.advance(61)
        assert await store.begin(KEY)
        assert await store.failed(KEY, err(clock)) == pytest.approx(100)  # the cap

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_a_probe_that_never_reports_frees_the_slot(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        await store.failed(KEY, err(clock))
        clock.advance(31)
        assert await store.begin(KEY)
        clock.advance(9)
        assert not await store.begin(KEY)
        clock.advance(2)  # past probe_seconds
        assert await health(store) is Health.PROBE
        assert await store.begin(KEY)

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_failures_of_calls_in_flight_do_not_lengthen_a_cooldown(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        await store.failed(KEY, err(clock))
        clock.advance(5)
        for _ in range(5):
            assert await store.failed(KEY, err(clock)) == pytest.approx(25)
        assert (await store.state(KEY)).failures == 1
        # ...and a call that started before the cooldown and succeeds does not end it.
        await store.succeeded(KEY)
        assert await health(store) is Health.COOLING

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_the_last_errors_are_kept_newest_first(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        for status in (500, 502, 503, 429):
            await store.failed(KEY, err(clock, status))
            clock.advance(1)
        state = await store.state(KEY)
        assert [e.status for e in state.recent_errors] == [429, 503, 502]
        assert state.recent_errors[0] == RecentError(1_000_003.0, 429, "upstream_error", "HTTP 429")
        # Healing keeps the history for `tollgate routes`.
        clock.advance(100)
        await store.begin(KEY)
        await store.succeeded(KEY)
        state = await store.state(KEY)
        assert (state.health, state.failures, state.cooling_until) == (Health.HEALTHY, 0, None)
        assert len(state.recent_errors) == 3

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_a_streak_is_forgotten_long_after_its_cooldown(kind: str) -> None:
    async def scenario(store: CooldownStore, clock: Clock) -> None:
        await store.failed(KEY, err(clock))
        clock.advance(30 + 100 + 1)  # cooldown, then max_seconds with nobody probing
        assert await health(store) is Health.HEALTHY
        assert await store.failed(KEY, err(clock)) == pytest.approx(30)

    run(kind, scenario)


def test_replicas_share_cooldowns_through_redis() -> None:
    async def main() -> None:
        clock = Clock()
        prefix = f"test:cooldown:{uuid.uuid4().hex}"
        async with store_of("redis", clock, prefix) as one, store_of("redis", clock, prefix) as two:
            await one.failed(KEY, err(clock))
            assert await health(two) is Health.COOLING
            clock.advance(31)
            # One probe for both replicas.
            assert [await one.begin(KEY), await two.begin(KEY)] == [True, False]
            await one.succeeded(KEY)
            assert await health(two) is Health.HEALTHY
            assert [e.status for e in (await two.state(KEY)).recent_errors] == [503]

    asyncio.run(main())


def test_redis_time_is_used_when_no_clock_is_given() -> None:
    async def main() -> None:
        prefix = f"test:cooldown:{uuid.uuid4().hex}"
        store = RedisCooldowns(aioredis.Redis.from_url(REDIS_URL), SETTINGS, prefix=prefix)
        try:
            assert await store.failed(KEY, RecentError(0, 503, "e", "m")) == pytest.approx(30)
            assert await health(store) is Health.COOLING
        finally:
            await store.aclose()
            drop_prefix(prefix)

    asyncio.run(main())


def test_an_unreachable_redis_never_fails_a_call() -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(
            "redis://127.0.0.1:1/0", socket_timeout=1, socket_connect_timeout=1
        )
        store = RedisCooldowns(client, SETTINGS)
        try:
            assert await health(store) is Health.HEALTHY
            assert await store.begin(KEY)
            assert await store.failed(KEY, RecentError(0, 503, "e", "m")) == 0.0
            await store.succeeded(KEY)
        finally:
            await store.aclose()

    asyncio.run(main())
