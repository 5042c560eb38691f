"""The cache stores, each on its real storage: the database (SQLite and PostgreSQL)
and Redis (a unique prefix a test). Projects never see each other's entries, an
entry expires after the TTL, and past the size cap a project's oldest entries go."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from services.router.cache import CachedAnswer, CacheStore, Limits
from services.router.cache.redis_store import RedisCacheStore
from services.router.cache.sql_store import SqlCacheStore
from tests.gateway.ratelimit_backends import REDIS_URL, drop_prefix
from tollgate.db.engine import make_engine
from tollgate.v1 import common_pb2

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def answer(text: str, prompt: int = 7) -> CachedAnswer:
    usage = common_pb2.Usage(prompt_tokens=prompt, completion_tokens=3, cached_tokens=2)
    return CachedAnswer("demo", f'{{"text":"{text}"}}'.encode(), usage)


@pytest.fixture(params=KINDS)
def open_store(
    request: pytest.FixtureRequest,
) -> Callable[[Limits, Clock], AsyncIterator[CacheStore]]:
    kind = request.param
    url = "" if kind == "redis" else str(request.getfixturevalue(f"{kind}_url"))

    @asynccontextmanager
    async def open_(limits: Limits, clock: Clock) -> AsyncIterator[CacheStore]:
        store: CacheStore
        if kind == "redis":
            prefix = f"test:cache:{uuid.uuid4().hex}"
            store = RedisCacheStore(aioredis.Redis.from_url(REDIS_URL), limits, prefix, clock)
        else:
            store = SqlCacheStore(make_engine(url), limits, clock)
        try:
            yield store
        finally:
            await store.aclose()
            if kind == "redis":
                drop_prefix(prefix)

    return open_  # type: ignore[return-value]


def test_an_answer_comes_back_for_its_project_only(open_store) -> None:  # type: ignore[no-untyped-def]
    async def check() -> None:
        async with open_store(Limits(60, 10), Clock()) as store:
            assert await store.get("proj_a", "k1") is None
            await store.put("proj_a", "k1", answer("a"))
            got = await store.get("proj_a", "k1")
            assert got == answer("a")
            assert await store.get("proj_b", "k1") is None  # same key, another project
            await store.put("proj_b", "k1", answer("b"))
            assert (await store.get("proj_a", "k1")) == answer("a")
            assert (await store.get("proj_b", "k1")) == answer("b")
            await store.put("proj_a", "k1", answer("a2", prompt=9))  # stored again: replaced
            assert (await store.get("proj_a", "k1")) == answer("a2", prompt=9)

    asyncio.run(check())


def test_an_entry_expires_after_the_ttl(open_store) -> None:  # type: ignore[no-untyped-def]
    async def check() -> None:
        clock = Clock()
        async with open_store(Limits(60, 10), clock) as store:
            await store.put("proj_a", "k1", answer("a"))
            clock.now += 59
            assert await store.get("proj_a", "k1") is not None
            clock.now += 2
            assert await store.get("proj_a", "k1") is None

    asyncio.run(check())


def test_past_the_size_cap_the_oldest_entries_go(open_store) -> None:  # type: ignore[no-untyped-def]
    async def check() -> None:
        clock = Clock()
        async with open_store(Limits(3600, 3), clock) as store:
            for i in range(5):
                await store.put("proj_a", f"k{i}", answer(str(i)))
                await store.put("proj_b", f"k{i}", answer(str(i)))
                clock.now += 1
            for project in ("proj_a", "proj_b"):  # each project keeps its own newest 3
                kept = [i for i in range(5) if await store.get(project, f"k{i}") is not None]
                assert kept == [2, 3, 4]

    asyncio.run(check())


def test_an_unreachable_redis_never_fails_a_call() -> None:
    async def check() -> None:
        client = aioredis.Redis.from_url(
            "redis://127.0.0.1:1/0", socket_timeout=1, socket_connect_timeout=1
        )
        store = RedisCacheStore(client, Limits(60, 10))
        await store.put("proj_a", "k1", answer("a"))
        assert await store.get("proj_a", "k1") is None
        await store.aclose()

    asyncio.run(check())
