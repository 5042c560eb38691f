"""The cache a router process uses: off unless `cache.enabled`; in Redis when
TOLLGATE_REDIS_URL is set, otherwise in the database's `response_cache` table."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis

from services.router.cache.redis_store import RedisCacheStore
from services.router.cache.service import ResponseCache
from services.router.cache.sql_store import SqlCacheStore
from services.router.cache.store import CacheStore, Limits
from tollgate.config import Settings
from tollgate.db.engine import make_engine
from tollgate.v1 import metering_pb2

# The router's only database work is the cache: a few connections suffice.
POOL_SIZE = 4


def build_response_cache(
    settings: Settings, record: Callable[[metering_pb2.UsageRecord], None]
) -> ResponseCache:
    return ResponseCache(_store(settings), settings.cache, record)


def _store(settings: Settings) -> CacheStore | None:
    if not settings.cache.enabled:
        return None
    limits = Limits(settings.cache.ttl_seconds, settings.cache.max_entries_per_project)
    if settings.redis_url:
        return RedisCacheStore(aioredis.Redis.from_url(settings.redis_url), limits)
    engine = make_engine(settings.database_url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    return SqlCacheStore(engine, limits)
