"""The limiter as the gateway uses it: limits read from the rate_limits table (cached,
refreshed within seconds), project and key limits together, OpenAI's 429 and headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine, event

from services.budget.admin import operations as admin
from services.budget.admin.limits import set_limits
from services.gateway.caller import Caller
from services.gateway.errors import ApiError
from services.gateway.ratelimit import LimitBook, Limiter, MemoryBackend
from services.gateway.ratelimit.redis_backend import RedisBackend
from tests.gateway.ratelimit_backends import Clock
from tollgate.db import make_engine


@dataclass
class World:
    engine: Engine
    clock: Clock
    caller: Caller
    limiter: Limiter


@pytest.fixture
def world(sqlite_url: str) -> Iterator[World]:
    engine = make_engine(sqlite_url)
    project = admin.create_project(engine, "acme")
    key = admin.create_key(engine, "acme").info
    clock = Clock()
    book = LimitBook(engine, refresh_seconds=2, clock=clock)
    caller = Caller(key.id, project.id, "acme", "CNY")
    yield World(engine, clock, caller, Limiter(book, MemoryBackend(clock)))
    engine.dispose()


def refused(world: World, tokens: int) -> ApiError:
    async def attempt() -> ApiError:
        with pytest.raises(ApiError) as caught:
            await world.limiter.acquire(world.caller, tokens, "req_refused")
        return caught.value

    return asyncio.run(attempt())


def body_of(error: ApiError) -> dict[str, object]:
    response = error.response()
    return json.loads(bytes(response.body))  # type: ignore[no-any-return]


def test_a_call_past_the_requests_limit_gets_openais_429(world: World) -> None:
    set_limits(world.engine, "acme", rpm=2, tpm=1000)

    async def two() -> list[dict[str, str]]:
        return [
            (await world.limiter.acquire(world.caller, 100, f"req_{i}")).headers for i in range(2)
        ]

    first, second = asyncio.run(two())
    assert first == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "6s",
    }
    assert second["x-ratelimit-remaining-requests"] == "0"
    error = refused(world, 100)
    assert error.status == 429
    assert body_of(error) == {
        "error": {
            "message": "Rate limit reached for project acme on requests per min (RPM): "
            "Limit 2, Used 2, Requested 1. Please try again in 30s.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert error.headers == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "800",  # the refused call took nothing
        "x-ratelimit-reset-tokens": "12s",
        "retry-after": "30",
        "retry-after-ms": "30000",
    }


def test_the_key_limit_and_the_tighter_headers_apply(world: World) -> None:
    set_limits(world.engine, "acme", tpm=1000)
    set_limits(world.engine, "acme", key_id=world.caller.key_id, tpm=150)

    async def take() -> dict[str, str]:
        lease = await world.limiter.acquire(world.caller, 100, "req_a")
        return lease.headers

    headers = asyncio.run(take())
    assert (headers["x-ratelimit-limit-tokens"], headers["x-ratelimit-remaining-tokens"]) == (
        "150",
        "50",
    )
    error = refused(world, 100)
    assert body_of(error)["error"] == {
        "message": f"Rate limit reached for key {world.caller.key_id} of project acme on tokens "
        "per min (TPM): Limit 150, Used 100, Requested 100. Please try again in 20s.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert error.headers["retry-after"] == "20"
    assert "x-ratelimit-limit-requests" not in error.headers  # no requests limit applies


def test_settling_gives_unused_tokens_back(world: World) -> None:
    set_limits(world.engine, "acme", tpm=150)

    async def scenario() -> None:
        lease = await world.limiter.acquire(world.caller, 100, "req_a")
        lease.settle(10)
        lease.settle(90)  # the first settlement counts
        lease.release()
        lease.release()
        second = await world.limiter.acquire(world.caller, 140, "req_b")
        assert second.headers["x-ratelimit-remaining-tokens"] == "0"

    asyncio.run(scenario())
    refused(world, 1)


def test_concurrency_and_oversized_calls(world: World) -> None:
    set_limits(world.engine, "acme", max_concurrent=1, tpm=500)

    async def hold() -> None:
        await world.limiter.acquire(world.caller, 10, "req_a")

    asyncio.run(hold())
    busy = refused(world, 10)
    assert body_of(busy)["error"]["type"] == "requests"  # type: ignore[index]
    assert body_of(busy)["error"]["message"] == (  # type: ignore[index]
        "Concurrency limit reached for project acme: Limit 1 concurrent requests, 1 running. "
        "Please try again when one of them finishes."
    )
    assert busy.headers["retry-after"] == "1"
    too_large = refused(world, 501)
    assert body_of(too_large)["error"]["message"].startswith(  # type: ignore[index]
        "Request too large for project acme on tokens per min (TPM): Limit 500, Requested 501."
    )
    assert too_large.headers["x-should-retry"] == "false"
    assert "retry-after" not in too_large.headers


def test_no_limit_takes_nothing_and_sends_no_headers(world: World) -> None:
    async def scenario() -> None:
        for i in range(100):
            lease = await world.limiter.acquire(world.caller, 10**9, f"req_{i}")
            assert lease.headers == {}

    asyncio.run(scenario())


def test_a_changed_limit_applies_within_the_refresh_without_a_query_per_call(
    world: World,
) -> None:
    set_limits(world.engine, "acme", rpm=1000)
    queries: list[str] = []
    event.listen(
        world.engine,
        "before_cursor_execute",
        lambda *a: queries.append(a[2]) if a[2].startswith("SELECT") else None,
    )

    async def scenario() -> None:
        limiter = world.limiter
        await limiter.acquire(world.caller, 1, "req_first")
        assert len(queries) == 2  # the first call reads the table: fingerprint, rows
        for i in range(50):
            await limiter.acquire(world.caller, 1, f"req_{i}")
        assert len(queries) == 2  # no query per call
        set_limits(world.engine, "acme", rpm=2000)
        queries.clear()
        world.clock.advance(1.9)
        lease = await limiter.acquire(world.caller, 1, "req_stale")
        assert lease.headers["x-ratelimit-limit-requests"] == "1000" and not queries
        world.clock.advance(0.2)
        await limiter.acquire(world.caller, 1, "req_kicks_refresh")  # served from the copy
        assert limiter.book is not None
        await asyncio.wait_for(limiter.book._refresh, 5)  # type: ignore[arg-type]
        lease = await limiter.acquire(world.caller, 1, "req_new")
        assert lease.headers["x-ratelimit-limit-requests"] == "2000"
        world.clock.advance(2.1)
        await limiter.acquire(world.caller, 0, "req_unchanged")
        await asyncio.wait_for(limiter.book._refresh, 5)  # type: ignore[arg-type]
        assert len(queries) == 3  # fingerprint, rows, then the fingerprint alone

    asyncio.run(scenario())


def test_an_unreachable_redis_lets_calls_through(world: World) -> None:
    set_limits(world.engine, "acme", rpm=1)

    async def scenario() -> None:
        backend = RedisBackend(aioredis.Redis.from_url("redis://127.0.0.1:1/0"))
        limiter = Limiter(world.limiter.book, backend)
        for i in range(3):
            assert (await limiter.acquire(world.caller, 1, f"req_{i}")).headers == {}
        await limiter.aclose()

    asyncio.run(scenario())
