"""Cooldowns in Redis, shared by every router replica.

One hash a deployment (`until`, `probe` and `forget` in ms, `failures`) and one list of its
recent errors. Each change is one Lua script, so replicas that race on the same
deployment see one cooldown and hand out one probe. Time is Redis's own clock
(`TIME`) so replicas with skewed clocks agree; tests may pass a clock instead.

Cooldowns make routing better, they never make it possible: when Redis cannot be
reached every deployment counts as healthy and failures go unrecorded (logged), so
a Redis outage never fails a call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.router.routing.cooldown import (
    Clock,
    DeploymentState,
    Health,
    RecentError,
)
from tollgate.routing_config import CooldownSettings

log = logging.getLogger(__name__)

ERRORS_TTL_MS = 24 * 3600 * 1000  # recent errors outlive any cooldown by a day

_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function health_of(key)
  local s = redis.call('HMGET', key, 'until', 'probe', 'forget')
  local u, p, f = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
  if not u or (f and f <= now) then return 0 end
  if u > now then return 1 end
  if p and p > now then return 3 end
  return 2
end
"""

# ARGV: now, probe ms. 1: go ahead (healthy, or the probe is ours); 0: skip.
BEGIN = (
    _NOW
    + """
local h = health_of(KEYS[1])
if h == 0 then return 1 end
if h ~= 2 then return 0 end
redis.call('HSET', KEYS[1], 'probe', string.format('%.17g', now + tonumber(ARGV[2])))
return 1
"""
)

# KEYS: hash, errors. ARGV: now, base ms, factor, max ms, error JSON, errors kept,
# errors TTL ms. Returns the cooldown left in ms, as a string.
FAILED = (
    _NOW
    + """
local base, factor, most = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local keep = tonumber(ARGV[6])
if keep > 0 then
  redis.call('LPUSH', KEYS[2], ARGV[5])
  redis.call('LTRIM', KEYS[2], 0, keep - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
local s = redis.call('HMGET', KEYS[1], 'until', 'failures', 'forget')
local u, failures, f = tonumber(s[1]), tonumber(s[2]) or 0, tonumber(s[3])
if f and f <= now then u, failures = nil, 0 end
if u and u > now then return string.format('%.17g', u - now) end
failures = failures + 1
local wait = math.min(base * factor ^ (failures - 1), most)
redis.call('HSET', KEYS[1], 'until', string.format('%.17g', now + wait), 'failures', failures,
  'forget', string.format('%.17g', now + wait + most))
redis.call('HDEL', KEYS[1], 'probe')
redis.call('PEXPIRE', KEYS[1], math.ceil(wait + most))
return string.format('%.17g', wait)
"""
)

# A success outside a cooldown makes the deployment healthy.
SUCCEEDED = (
    _NOW
    + """
local u = tonumber(redis.call('HGET', KEYS[1], 'until'))
if u and u > now then return 0 end
return redis.call('DEL', KEYS[1])
"""
)


class RedisCooldowns:
    def __init__(
        self,
        client: aioredis.Redis,
        settings: CooldownSettings,
        *,
        prefix: str = "tollgate:cooldown",
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._prefix = prefix
        self._clock = clock
        self._begin = client.register_script(BEGIN)
        self._failed = client.register_script(FAILED)
        self._succeeded = client.register_script(SUCCEEDED)

    @classmethod
    def from_url(cls, url: str, settings: CooldownSettings, **kwargs: object) -> RedisCooldowns:
        client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, settings, **kwargs)  # type: ignore[arg-type]

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock() * 1000)

    def _keys(self, key: str) -> list[str]:
        # One hash tag a deployment: both keys sit in one Redis Cluster slot.
        return [f"{self._prefix}:{{{key}}}", f"{self._prefix}:{{{key}}}:errors"]

    async def health(self, keys: Sequence[str]) -> dict[str, Health]:
        if not keys:
            return {}
        try:
            # One round trip; plain reads, since each key sits in a slot of its own.
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.time()
                for key in keys:
                    pipe.hmget(self._keys(key)[0], "until", "probe", "forget")
                (seconds, micros), *states = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("cooldowns unavailable, treating deployments as healthy: %s", exc)
            return dict.fromkeys(keys, Health.HEALTHY)
        now = self._clock() * 1000 if self._clock else seconds * 1000 + micros / 1000
        return {key: _health(state, now) for key, state in zip(keys, states, strict=True)}

    async def begin(self, key: str) -> bool:
        probe_ms = self._settings.probe_seconds * 1000
        try:
            reply = await self._begin(keys=self._keys(key)[:1], args=[self._now(), probe_ms])
        except (RedisError, OSError) as exc:
            log.warning("cooldowns unavailable, letting the call through: %s", exc)
            return True
        return int(reply) == 1

    async def failed(self, key: str, error: RecentError) -> float:
        s = self._settings
        entry = json.dumps(
            {"at": error.at, "status": error.status, "code": error.code, "message": error.message}
        )
        args: list[str | int | float] = [
            self._now(),
            s.seconds * 1000,
            s.factor,
            s.max_seconds * 1000,
            entry,
            s.recent_errors,
            ERRORS_TTL_MS,
        ]
        try:
            reply = await self._failed(keys=self._keys(key), args=args)
        except (RedisError, OSError) as exc:
            log.warning("cooldowns unavailable, failure of %s not recorded: %s", key, exc)
            return 0.0
        return float(reply) / 1000

    async def succeeded(self, key: str) -> None:
        try:
            await self._succeeded(keys=self._keys(key)[:1], args=[self._now()])
        except (RedisError, OSError) as exc:
            log.warning("cooldowns unavailable, success of %s not recorded: %s", key, exc)

    async def state(self, key: str) -> DeploymentState:
        hash_key, errors_key = self._keys(key)
        (health,) = (await self.health([key])).values()
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hmget(hash_key, "until", "failures")
            pipe.lrange(errors_key, 0, -1)
            (until, failures), raw_errors = await pipe.execute()
        errors = tuple(_recent_error(raw) for raw in raw_errors)
        return DeploymentState(
            key=key,
            health=health,
            failures=0 if health is Health.HEALTHY else int(failures or 0),
            cooling_until=float(until) / 1000 if health is Health.COOLING else None,
            recent_errors=tuple(e for e in errors if e is not None),
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _health(state: list[bytes | None], now_ms: float) -> Health:
    """As the scripts' `health_of` decides it."""
    until, probe, forget = (float(v) if v is not None else None for v in state)
    if until is None or (forget is not None and forget <= now_ms):
        return Health.HEALTHY
    if until > now_ms:
        return Health.COOLING
    return Health.PROBING if probe is not None and probe > now_ms else Health.PROBE


def _recent_error(raw: bytes) -> RecentError | None:
    try:
        data = json.loads(raw)
        return RecentError(
            float(data["at"]), int(data["status"]), str(data["code"]), str(data["message"])
        )
    except (ValueError, KeyError, TypeError):
        return None
