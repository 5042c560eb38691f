"""The cache in Redis, shared by every router replica.

One hash an answer (`{prefix}:{project}:e:{key}`: model, response, usage, expires ms)
that Redis expires after the TTL, and one sorted set a project
(`{prefix}:{project}:index`, cache keys by when they were stored) for the size cap.
A write is one Lua script: store, drop what expired, and past the cap drop the
oldest, so racing replicas keep the cap.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.router.cache.store import CachedAnswer, Clock, Limits, system_clock
from tollgate.v1 import common_pb2

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "tollgate:cache"

# KEYS: entry, index. ARGV: now ms, ttl ms, cap, cache key, entry key prefix,
# model, response, usage.
PUT = """
local now, ttl, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'model', ARGV[6], 'response', ARGV[7], 'usage', ARGV[8],
           'expires', string.format('%d', now + ttl))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now, ARGV[4])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do
  redis.call('DEL', ARGV[5] .. gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local extra = redis.call('ZCARD', KEYS[2]) - cap
if extra > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #oldest, 2 do redis.call('DEL', ARGV[5] .. oldest[i]) end
end
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""


class RedisCacheStore:
    def __init__(
        self,
        client: aioredis.Redis,
        limits: Limits,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock = system_clock,
    ) -> None:
        self._client = client
        self._limits = limits
        self._prefix = prefix
        self._clock = clock
        self._put = client.register_script(PUT)

    def _entries(self, project_id: str) -> str:
        return f"{self._prefix}:{project_id}:e:"

    async def get(self, project_id: str, key: str) -> CachedAnswer | None:
        try:
            fields = await self._client.hgetall(self._entries(project_id) + key)
        except RedisError:
            log.exception("response cache read failed; answering from the upstream")
            return None
        if not fields or int(fields[b"expires"]) <= int(self._clock() * 1000):
            return None
        usage = common_pb2.Usage.FromString(_bytes(fields[b"usage"]))
        return CachedAnswer(_bytes(fields[b"model"]).decode(), _bytes(fields[b"response"]), usage)

    async def put(self, project_id: str, key: str, answer: CachedAnswer) -> None:
        entries = self._entries(project_id)
        try:
            await self._put(
                keys=[entries + key, f"{self._prefix}:{project_id}:index"],
                args=[
                    int(self._clock() * 1000),
                    max(1, int(self._limits.ttl_seconds * 1000)),
                    self._limits.max_entries_per_project,
                    key,
                    entries,
                    answer.model,
                    answer.response,
                    answer.usage.SerializeToString(),
                ],
            )
        except RedisError:
            log.exception("response cache write failed; the answer is not cached")

    async def aclose(self) -> None:
        await self._client.aclose()


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
