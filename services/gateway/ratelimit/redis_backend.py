"""Counters in Redis, shared by every gateway replica.

Each take is one Lua script, so checking every limit of a call and taking from all
of them is a single atomic step however many replicas race. Time is Redis's own
clock (`TIME`), so replicas with skewed clocks agree; tests may pass a clock instead.

Concurrency slots are leases in a sorted set scored by their expiry. A live call's
lease is renewed every third of its TTL; a gateway that dies stops renewing, and its
leases drop out of the set at the next take after they expire.

All keys of one project share a hash tag (`{project id}`), so a script only ever
touches keys of one slot and the scheme works on Redis Cluster too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from services.gateway.ratelimit.rules import NEVER, Check, State, Unavailable

log = logging.getLogger(__name__)

LEASE_TTL_SECONDS = 30.0

# ARGV: now in ms ('' = Redis time), lease id, lease TTL in ms, then kind, limit and
# cost of each check, in KEYS order. Returns ok, then used and wait (ms, -1 = never)
# of each check, as strings (Lua numbers would be truncated to integers).
_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function num(x)
  return string.format('%.17g', x)  -- every bit of the double, unlike tostring
end
local function level_of(key, limit)
  local state = redis.call('HMGET', key, 'level', 'at')
  local level = tonumber(state[1]) or 0
  local at = tonumber(state[2]) or now
  return math.max(0, level - math.max(0, now - at) * limit / 60000)
end
local function store(key, level, limit)
  redis.call('HSET', key, 'level', num(level), 'at', num(now))
  redis.call('PEXPIRE', key, math.ceil(level * 60000 / limit) + 1000)
end
"""

_CHECK = """
local lease, ttl = ARGV[2], tonumber(ARGV[3])
local used, wait, ok = {}, {}, true
for i = 1, #KEYS do
  local kind, limit, cost = ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  if kind == 'concurrent' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    used[i] = redis.call('ZCARD', KEYS[i])
    wait[i] = (used[i] + 1 > limit) and 1000 or 0
  else
    used[i] = level_of(KEYS[i], limit)
    if cost > limit then
      wait[i] = -1
    else
      wait[i] = math.max(0, (used[i] + cost - limit) * 60000 / limit)
    end
  end
  if wait[i] ~= 0 then ok = false end
end
"""

_COMMIT = """
if ok then
  for i = 1, #KEYS do
    local kind, limit, cost = ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
    if kind == 'concurrent' then
      redis.call('ZADD', KEYS[i], now + ttl, lease)
      redis.call('PEXPIRE', KEYS[i], math.ceil(2 * ttl))
      used[i] = used[i] + 1
    else
      used[i] = used[i] + cost
      store(KEYS[i], used[i], limit)
    end
  end
end
"""

_REPLY = """
local out = {ok and 1 or 0}
for i = 1, #KEYS do
  out[#out + 1] = num(used[i])
  out[#out + 1] = num(wait[i])
end
return out
"""

TAKE = _NOW + _CHECK + _COMMIT + _REPLY
# The same checks, taking nothing (ARGV as for TAKE; the lease id is unused).
PEEK = _NOW + _CHECK + _REPLY

# KEYS: token buckets, then concurrency sets. ARGV: now, lease id, token delta, then
# the limit of each token bucket.
GIVE_BACK = (
    _NOW
    + """
local lease, delta = ARGV[2], tonumber(ARGV[3])
for i = 1, #KEYS do
  local limit = tonumber(ARGV[3 + i])
  if limit then
    if delta ~= 0 then
      store(KEYS[i], math.max(0, level_of(KEYS[i], limit) + delta), limit)
    end
  else
    redis.call('ZREM', KEYS[i], lease)
  end
end
return 1
"""
)

# KEYS: the concurrency sets of one lease. ARGV: now, lease id, TTL in ms.
RENEW = (
    _NOW
    + """
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[i], math.ceil(2 * tonumber(ARGV[3])))
end
return 1
"""
)


def _wait_seconds(text: str) -> float:
    millis = float(text)
    return NEVER if millis < 0 else millis / 1000


class RedisBackend:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "tollgate:rl",
        lease_ttl_seconds: float = LEASE_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = int(lease_ttl_seconds * 1000)
        self._clock = clock
        self._take = client.register_script(TAKE)
        self._peek = client.register_script(PEEK)
        self._give_back = client.register_script(GIVE_BACK)
        self._renew = client.register_script(RENEW)
        self._leases: dict[str, list[str]] = {}  # live lease id -> its concurrency keys
        self._renewer: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> RedisBackend:
        client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, **kwargs)  # type: ignore[arg-type]

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock() * 1000)

    def key(self, group: str, name: str) -> str:
        return f"{self._prefix}:{{{group}}}:{name}"

    async def _run(
        self, script: AsyncScript, checks: Sequence[Check], lease_id: str
    ) -> tuple[bool, list[State]]:
        args: list[str | int] = [self._now(), lease_id, self._ttl_ms]
        for check in checks:
            args += [check.kind, check.limit, check.cost]
        try:
            reply = await script(keys=[c.key for c in checks], args=args)
        except (RedisError, OSError) as exc:
            raise Unavailable(str(exc)) from exc
        states = [
            State(float(reply[1 + 2 * i]), _wait_seconds(reply[2 + 2 * i]))
            for i in range(len(checks))
        ]
        return int(reply[0]) == 1, states

    async def peek(self, checks: Sequence[Check]) -> tuple[bool, list[State]]:
        """Whether the checks would pass now, taking nothing."""
        return await self._run(self._peek, checks, "")

    async def take(self, checks: Sequence[Check], lease_id: str) -> tuple[bool, list[State]]:
        allowed, states = await self._run(self._take, checks, lease_id)
        slots = [c.key for c in checks if c.kind == "concurrent"]
        if allowed and slots:
            self._leases[lease_id] = slots
            self._start_renewing()
        return allowed, states

    def give_back(
        self, checks: Sequence[Check], lease_id: str, token_delta: int
    ) -> asyncio.Task[None] | None:
        self._leases.pop(lease_id, None)
        buckets = [c for c in checks if c.kind == "tokens"] if token_delta else []
        slots = [c.key for c in checks if c.kind == "concurrent"]
        if not buckets and not slots:
            return None
        keys = [c.key for c in buckets] + slots
        args: list[str | int] = [self._now(), lease_id, token_delta]
        args += [c.limit for c in buckets]
        task = asyncio.get_running_loop().create_task(self._run_give_back(keys, args))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _run_give_back(self, keys: list[str], args: list[str | int]) -> None:
        try:
            await self._give_back(keys=keys, args=args)
        except RedisError as exc:
            # The slots expire with their lease; an unreturned refund drains away.
            log.warning("rate-limit release failed (%s); the lease will expire", exc)

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while self._leases:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for lease_id, keys in list(self._leases.items()):
                        args: list[str | int] = [self._now(), lease_id, self._ttl_ms]
                        await self._renew(keys=keys, args=args, client=pipe)
                    await pipe.execute()
            except RedisError as exc:
                log.warning("renewing rate-limit leases failed: %s", exc)

    async def renew_now(self) -> None:
        """Renew every live lease once (the renewer's step; for tests)."""
        for lease_id, keys in list(self._leases.items()):
            args: list[str | int] = [self._now(), lease_id, self._ttl_ms]
            await self._renew(keys=keys, args=args)

    async def flush(self) -> None:
        """Wait for releases still on their way to Redis."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()
        if self._renewer is not None:
            self._renewer.cancel()
        await self._client.aclose()
