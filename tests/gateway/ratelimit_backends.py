"""Both rate-limit backends behind one factory, on a clock the test moves: in process,
and on the real Redis server (127.0.0.1:6379) under a key prefix of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import redis
import redis.asyncio as aioredis

from services.gateway.ratelimit import Backend, Check, MemoryBackend
from services.gateway.ratelimit.redis_backend import RedisBackend
from services.gateway.ratelimit.rules import Kind

REDIS_URL = os.environ.get("TOLLGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KINDS = ("memory", "redis")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drop_prefix(prefix: str) -> int:
    """Delete every key under a prefix; how many there were."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@asynccontextmanager
async def backend_of(
    kind: str, clock: Clock, *, lease_ttl_seconds: float = 30.0, prefix: str | None = None
) -> AsyncIterator[Backend]:
    if kind == "memory":
        yield MemoryBackend(clock)
        return
    prefix = prefix or f"test:rl:{uuid.uuid4().hex}"
    backend = RedisBackend(
        aioredis.Redis.from_url(REDIS_URL),
        prefix=prefix,
        lease_ttl_seconds=lease_ttl_seconds,
        clock=clock,
    )
    try:
        yield backend
    finally:
        await backend.aclose()
        drop_prefix(prefix)


def check(backend: Backend, kind: Kind, limit: int, cost: int = 1, owner: str = "p") -> Check:
    return Check(backend.key("group", f"{owner}:{kind}"), kind, limit, cost, f"project {owner}")


Scenario = Callable[[Backend, Clock], Awaitable[None]]
