"""The one door every route authenticates through (`Gate.admit`) and the key cache
behind it, on SQLite and PostgreSQL: cached answers expire, a revocation or pause
reaches the cache through the background version check (no per-request database
read), a revoked key always gets the same message, a paused key gets its 403 and
a full request-rate limit its 429 before any body is read, and an address that
keeps sending unknown keys is throttled without lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, update
from starlette.requests import Request

from services.budget.admin import operations as admin
from services.budget.admin.limits import set_limits
from services.gateway.auth import KeyCache
from services.gateway.errors import ApiError
from services.gateway.gate import Gate
from services.gateway.ratelimit import LimitBook, Limiter, MemoryBackend
from services.gateway.throttle import FailureThrottle
from tests.gateway.ratelimit_backends import Clock
from tollgate.db import make_engine, utcnow
from tollgate.db.models import API_KEYS


@dataclass
class World:
    engine: Engine
    secret: str
    key_id: str
    clock: Clock


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    engine = make_engine(db_url)
    admin.create_project(engine, "acme")
    new = admin.create_key(engine, "acme")
    yield World(engine, new.secret, new.info.id, Clock())
    engine.dispose()


def request(secret: str, address: str = "10.0.0.1") -> Request:
    headers = [(b"authorization", f"Bearer {secret}".encode())]
    return Request({"type": "http", "headers": headers, "client": (address, 1234)})


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


async def refusal(admission: Awaitable[Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await admission
    return caught.value


def test_a_known_key_is_served_from_the_cache(world: World) -> None:
    async def scenario() -> None:
        keys = KeyCache(world.engine, watch_seconds=60)
        for _ in range(5):
            assert (await keys.resolve(world.secret)).key_id == world.key_id
        assert keys.lookups == 1
        await keys.aclose()

    run(scenario)


def test_cached_answers_expire(world: World) -> None:
    async def scenario() -> None:
        keys = KeyCache(world.engine, ttl_seconds=30, watch_seconds=60, clock=world.clock)
        await keys.resolve(world.secret)
        world.clock.advance(29)
        await keys.resolve(world.secret)
        assert keys.lookups == 1
        world.clock.advance(2)
        await keys.resolve(world.secret)
        assert keys.lookups == 2
        await keys.aclose()

    run(scenario)


def test_a_revocation_reaches_the_cache_through_the_version_check(world: World) -> None:
    async def scenario() -> None:
        keys = KeyCache(world.engine, watch_seconds=0.05)
        await keys.resolve(world.secret)
        await asyncio.sleep(0.2)  # the watcher has its first fingerprint
        admin.revoke_key(world.engine, world.key_id)
        await asyncio.sleep(0.5)
        messages = [(await refusal(keys.resolve(world.secret))).message for _ in range(3)]
        # One message however often the key is tried.
        assert messages == ["This API key has been revoked."] * 3
        assert keys.lookups == 2
        await keys.aclose()

    run(scenario)


def test_a_forgotten_key_keeps_the_revoked_message(world: World) -> None:
    async def scenario() -> None:
        keys = KeyCache(world.engine, watch_seconds=60)
        await keys.resolve(world.secret)
        keys.forget(world.secret)  # what Budget's KEY_REVOKED answer does
        for _ in range(2):
            error = await refusal(keys.resolve(world.secret))
            assert (error.status, error.message) == (401, "This API key has been revoked.")
        await keys.aclose()

    run(scenario)


def pause(engine: Engine, key_id: str, paused: bool) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(API_KEYS)
            .where(API_KEYS.c.id == key_id)
            .values(paused_at=utcnow() if paused else None)
        )


def test_a_paused_key_is_refused_at_the_door_and_a_resume_is_seen_at_once(
    world: World,
) -> None:
    async def scenario() -> None:
        gate = Gate(KeyCache(world.engine, watch_seconds=0.05))
        await gate.admit(request(world.secret))
        await asyncio.sleep(0.2)
        pause(world.engine, world.key_id, True)
        await asyncio.sleep(0.5)
        error = await refusal(gate.admit(request(world.secret)))
        assert (error.status, error.code) == (403, "key_paused")
        assert "operator can resume" in error.message
        # Reads (models, usage) still work for a paused key.
        await gate.admit(request(world.secret), calling=False)
        pause(world.engine, world.key_id, False)
        await gate.admit(request(world.secret))  # at once, no wait for the watcher
        await gate.keys.aclose()

    run(scenario)


def test_a_full_request_rate_limit_refuses_before_the_body(world: World) -> None:
    async def scenario() -> None:
        set_limits(world.engine, "acme", rpm=1)
        limiter = Limiter(LimitBook(world.engine), MemoryBackend())
        gate = Gate(KeyCache(world.engine, watch_seconds=60), limiter)
        admitted = await gate.admit(request(world.secret))
        lease = await limiter.acquire(admitted.caller, 10, "req_1")
        error = await refusal(gate.admit(request(world.secret)))
        assert (error.status, error.code) == (429, "rate_limit_exceeded")
        await lease.aclose()
        await gate.keys.aclose()

    run(scenario)


def test_unknown_keys_from_one_address_are_throttled_without_lookups(world: World) -> None:
    async def scenario() -> None:
        throttle = FailureThrottle(limit=3, window_seconds=10, clock=world.clock)
        gate = Gate(KeyCache(world.engine, watch_seconds=60), throttle=throttle)
        for i in range(3):
            error = await refusal(gate.admit(request(f"tg-wrong-{i}")))
            assert error.status == 401
        lookups = gate.keys.lookups
        for i in range(5):
            error = await refusal(gate.admit(request(f"tg-wrong-more-{i}")))
            assert (error.status, error.code) == (429, "too_many_invalid_keys")
            assert int(error.headers["retry-after"]) <= 10
        assert gate.keys.lookups == lookups  # no database read while throttled
        # Another address is not held back; a known key from the throttled one still works
        # once the cache knows it.
        assert (await refusal(gate.admit(request("tg-wrong-x", "10.0.0.2")))).status == 401
        await gate.admit(request(world.secret, "10.0.0.2"))
        await gate.admit(request(world.secret))
        world.clock.advance(10)
        assert (await refusal(gate.admit(request("tg-wrong-y")))).status == 401
        await gate.keys.aclose()

    run(scenario)
