"""The rate-limit algorithm (token buckets and concurrency leases), on both backends
with a clock the test moves."""

from __future__ import annotations

import asyncio
import math
import uuid

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.ratelimit import go_duration
from services.gateway.ratelimit.redis_backend import RedisBackend
from tests.gateway.ratelimit_backends import (
    KINDS,
    REDIS_URL,
    Clock,
    Scenario,
    backend_of,
    check,
    drop_prefix,
)


def run(kind: str, scenario: Scenario) -> None:
    async def main() -> None:
        clock = Clock()
        async with backend_of(kind, clock) as backend:
            await scenario(backend, clock)

    asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_requests_per_minute_allow_a_burst_then_refill_steadily(kind: str) -> None:
    async def scenario(backend, clock) -> None:  # type: ignore[no-untyped-def]
        rpm = check(backend, "requests", 3)
        for i in range(3):
            allowed, (state,) = await backend.take([rpm], f"r{i}")
            assert allowed and state.used == pytest.approx(i + 1)
        allowed, (state,) = await backend.take([rpm], "r3")
        assert not allowed
        assert state.wait_seconds == pytest.approx(20.0)  # one request refills in 60/3 s
        clock.advance(19.9)
        assert not (await backend.take([rpm], "r4"))[0]
        clock.advance(0.1)
        allowed, (state,) = await backend.take([rpm], "r5")
        assert allowed and state.used == pytest.approx(3.0)

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_tokens_settled_below_the_estimate_are_usable_again(kind: str) -> None:
    async def scenario(backend, clock) -> None:  # type: ignore[no-untyped-def]
        tpm = check(backend, "tokens", 100, cost=80)
        assert (await backend.take([tpm], "a"))[0]
        second = check(backend, "tokens", 100, cost=30)
        allowed, (state,) = await backend.take([second], "b")
        assert not allowed and state.used == pytest.approx(80)
        backend.give_back([tpm], "a", 10 - 80)  # it used 10 of the 80 it held
        await backend.flush()
        allowed, (state,) = await backend.take([second], "b")
        assert allowed and state.used == pytest.approx(40)

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_tokens_used_past_the_estimate_hold_the_next_calls_back(kind: str) -> None:
    async def scenario(backend, clock) -> None:  # type: ignore[no-untyped-def]
        tpm = check(backend, "tokens", 100, cost=50)
        assert (await backend.take([tpm], "a"))[0]
        backend.give_back([tpm], "a", 150 - 50)  # no max_tokens: it used 150
        await backend.flush()
        allowed, (state,) = await backend.take([check(backend, "tokens", 100, cost=1)], "b")
        assert not allowed and state.used == pytest.approx(150)
        assert state.wait_seconds == pytest.approx((150 + 1 - 100) * 60 / 100)

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_a_call_larger_than_the_limit_never_fits(kind: str) -> None:
    async def scenario(backend, clock) -> None:  # type: ignore[no-untyped-def]
        allowed, (state,) = await backend.take([check(backend, "tokens", 100, cost=101)], "a")
        assert not allowed and state.wait_seconds == math.inf and state.used == 0

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_concurrency_slots_free_on_release(kind: str) -> None:
    async def scenario(backend, clock) -> None:  # type: ignore[no-untyped-def]
        slots = check(backend, "concurrent", 2)
        assert (await backend.take([slots], "a"))[0]
        assert (await backend.take([slots], "b"))[0]
        allowed, (state,) = await backend.take([slots], "c")
        assert not allowed and state.used == 2 and state.wait_seconds > 0
        backend.give_back([slots], "a", 0)
        backend.give_back([slots], "a", 0)  # a second release frees nothing more
        await backend.flush()
        allowed, (state,) = await backend.take([slots], "c")
        assert allowed and state.used == 2
        assert not (await backend.take([slots], "d"))[0]

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_call_takes_nothing_from_any_limit(kind: str) -> None:
    async def scenario(backend, clock) -> None:  # type: ignore[no-untyped-def]
        key_slots = check(backend, "concurrent", 1, owner="key")
        project = [check(backend, "requests", 10), check(backend, "tokens", 1000, cost=100)]
        assert (await backend.take([key_slots, *project], "a"))[0]
        for lease in ("b", "c", "d"):
            assert not (await backend.take([key_slots, *project], lease))[0]
        backend.give_back([key_slots, *project], "a", 0)
        await backend.flush()
        allowed, states = await backend.take([key_slots, *project], "e")
        assert allowed
        assert [s.used for s in states] == pytest.approx([1, 2, 200])

    run(kind, scenario)


def test_redis_leases_of_a_dead_gateway_expire_and_live_ones_are_renewed() -> None:
    async def main() -> None:
        clock = Clock()
        prefix = f"test:rl:{uuid.uuid4().hex}"
        async with (
            backend_of("redis", clock, lease_ttl_seconds=3, prefix=prefix) as dead,
            backend_of("redis", clock, lease_ttl_seconds=3, prefix=prefix) as alive,
        ):
            slots = check(dead, "concurrent", 1)
            assert (await dead.take([slots], "held-by-dead"))[0]
            clock.advance(2.9)
            assert not (await alive.take([slots], "x"))[0]
            clock.advance(0.2)  # past the TTL; the dead gateway never renewed it
            assert (await alive.take([slots], "live"))[0]
            for _ in range(3):  # the renewer's steps keep a long call's slot
                clock.advance(2)
                await alive.renew_now()
            assert not (await dead.take([slots], "y"))[0]
            alive.give_back([slots], "live", 0)
            await alive.flush()
            assert (await dead.take([slots], "z"))[0]

    asyncio.run(main())


# Whole costs, and waits after which every bucket has refilled a whole number of units,
# so both backends compute in exact binary arithmetic and must agree exactly.
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(0, 130)),
        st.tuples(st.just("wait"), st.sampled_from([0, 20, 40])),
        st.tuples(st.just("settle"), st.integers(0, 200)),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(OPS)
def test_both_backends_decide_every_sequence_alike(ops: list[tuple[str, int]]) -> None:
    async def trace(kind: str) -> list[tuple[bool, list[float]]]:
        clock = Clock()
        seen = []
        # Leases outlive the waits: expiry is Redis's alone (tested above).
        async with backend_of(kind, clock, lease_ttl_seconds=3600) as backend:
            open_leases: list[tuple[str, int]] = []
            for i, (op, n) in enumerate(ops):
                checks = [
                    check(backend, "requests", 3),
                    check(backend, "tokens", 120, cost=n),
                    check(backend, "concurrent", 2),
                ]
                if op == "wait":
                    clock.advance(n)
                elif op == "take":
                    allowed, states = await backend.take(checks, f"l{i}")
                    seen.append((allowed, [s.used for s in states]))
                    if allowed:
                        open_leases.append((f"l{i}", n))
                elif open_leases:
                    lease, held = open_leases.pop(0)
                    backend.give_back(checks, lease, n - held)
                    await backend.flush()
        return seen

    memory = asyncio.run(trace("memory"))
    assert asyncio.run(trace("redis")) == memory


def test_durations_are_written_as_openai_writes_them() -> None:
    assert [go_duration(s) for s in (0, 0.017, 0.5, 1, 8.64, 60, 360, 3725.5)] == [
        "0s",
        "17ms",
        "500ms",
        "1s",
        "8.64s",
        "1m0s",
        "6m0s",
        "1h2m5.5s",
    ]


def test_the_prefix_cleanup_finds_what_a_test_left() -> None:
    async def main() -> str:
        clock = Clock()
        prefix = f"test:rl:{uuid.uuid4().hex}"
        async with backend_of("redis", clock, prefix=prefix) as backend:
            assert (await backend.take([check(backend, "requests", 5)], "a"))[0]
            prefix_keys = drop_prefix(prefix)
            assert prefix_keys == 1
        return prefix

    assert drop_prefix(asyncio.run(main())) == 0


def test_on_redis_time_the_renewer_keeps_live_leases_and_dead_ones_expire() -> None:
    """No injected clock: Redis's own TIME, and the background renewer, for real."""

    async def main() -> None:
        prefix = f"test:rl:{uuid.uuid4().hex}"
        client = aioredis.Redis.from_url(REDIS_URL)
        live = RedisBackend(client, prefix=prefix, lease_ttl_seconds=0.3)
        try:
            slots = check(live, "concurrent", 2)
            assert (await live.take([slots], "live"))[0]
            assert (await live.take([slots], "dead"))[0]
            live._leases.pop("dead")  # as if its gateway died: nobody renews it
            await asyncio.sleep(1.0)  # three TTLs
            allowed, (state,) = await live.take([slots], "new")
            assert allowed and state.used == 2  # "live" was renewed, "dead" expired
        finally:
            await live.aclose()
            drop_prefix(prefix)

    asyncio.run(main())
