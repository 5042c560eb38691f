"""Project keys: `Authorization: Bearer tg-...` (or `x-api-key`) to a caller.

Lookups are cached, and no request reads the database for a key it has seen:
every cached answer (a caller, a revoked key, an unknown secret) expires after
`ttl_seconds`, and a watcher drops the whole cache as soon as anything about keys
changes. The watcher runs one aggregate query over `api_keys` every
`watch_seconds` (count, newest created/revoked/paused/resumed time), so a new,
revoked, paused or resumed key reaches every gateway replica within a second.
Revocation takes effect within a second for every chat call, and from the very next
one for a project or key with a hard budget: Budget.Authorize checks the key in its
transaction, answers KEY_REVOKED, and the gateway then remembers the key as revoked
(`forget`). Without a hard budget the gateway may reuse Budget's ALLOWED answer for
up to a second (decisions.py); the listeners of `on_change` (that cache) are told of
every change the watcher sees and of every `forget`, and drop what they hold.

A key the cache knows as paused is looked up again on each call (only paused keys
pay for that), so an operator's resume is seen at once.

Keys may expire, and a rotated key's old secret works until its grace ends: a cached
caller is kept no later than the moment its secret stops working (`valid_until`),
so the next call after it reads the key again and gets a 401 ("expired"). A rotation
changes `rotated_at`, which the watcher sees like any other change.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from starlette.requests import Request

from services.gateway.caller import Caller
from services.gateway.errors import ApiError, invalid_key
from services.gateway.watched_cache import WatchedCache
from tollgate.db import as_utc, read_transaction, utcnow
from tollgate.db.models import ApiKey, Project
from tollgate.keys import PREFIX, hash_secret

log = logging.getLogger(__name__)

TTL_SECONDS = 60.0
WATCH_SECONDS = 0.5
REVOKED_MESSAGE = "This API key has been revoked."
EXPIRED_MESSAGE = "This API key has expired."
ROTATED_MESSAGE = (
    "This API key's secret was rotated and the old secret's grace period has ended: "
    "use the new secret."
)


class Verdict(enum.Enum):
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    ROTATED = "rotated"  # an old secret past its grace


Entry = Caller | Verdict


def secret_from(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    secret = value.strip() if scheme.lower() == "bearer" else ""
    secret = secret or request.headers.get("x-api-key", "").strip()
    if not secret:
        raise invalid_key(
            "You didn't provide an API key. Send it as `Authorization: Bearer tg-...`."
        )
    return secret


def refused(entry: Verdict) -> ApiError:
    if entry is Verdict.REVOKED:
        return invalid_key(REVOKED_MESSAGE)
    if entry is Verdict.EXPIRED:
        return invalid_key(EXPIRED_MESSAGE)
    if entry is Verdict.ROTATED:
        return invalid_key(ROTATED_MESSAGE)
    return invalid_key()


def paused(caller: Caller) -> ApiError:
    since = ""
    if caller.paused_at is not None:
        since = f" since {as_utc(caller.paused_at):%Y-%m-%d %H:%M} UTC"
    return ApiError(
        403,
        f"This API key has been paused{since}; an operator can resume it.",
        type="permission_error",
        code="key_paused",
    )


class _Expiring:
    """An LRU of entries that each expire `ttl` seconds after they were put."""

    def __init__(self, capacity: int, ttl: float, clock: Callable[[], float]) -> None:
        self._items: OrderedDict[str, tuple[float, Entry]] = OrderedDict()
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock

    def get(self, key: str) -> Entry | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        return item[1]

    def put(self, key: str, value: Entry, within: float | None = None) -> None:
        """Keep `value` for the TTL, or `within` seconds when that is sooner."""
        ttl = self._ttl if within is None else max(0.0, min(self._ttl, within))
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class KeyCache(WatchedCache):
    what = "api_keys"

    def __init__(
        self,
        engine: Engine,
        capacity: int = 100_000,
        *,
        ttl_seconds: float = TTL_SECONDS,
        watch_seconds: float = WATCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(watch_seconds)
        self.engine = engine
        self._now = now
        self._entries = _Expiring(capacity, ttl_seconds, clock)
        self.lookups = 0  # database reads of one key, for tests and metrics

    def _lookup(self, key_hash: str) -> tuple[Entry, datetime | None]:
        """What the secret with this hash is, and until when that holds (None: no end)."""
        query = (
            select(
                ApiKey.id,
                ApiKey.project_id,
                ApiKey.revoked_at,
                ApiKey.paused_at,
                ApiKey.key_hash,
                ApiKey.expires_at,
                ApiKey.previous_expires_at,
                Project.name,
                Project.currency,
            )
            .join(Project, Project.id == ApiKey.project_id)
            .where((ApiKey.key_hash == key_hash) | (ApiKey.previous_key_hash == key_hash))
        )
        with read_transaction(self.engine) as conn:
            row = conn.execute(query).first()
        if row is None:
            return Verdict.UNKNOWN, None
        if row.revoked_at is not None:
            return Verdict.REVOKED, None
        now = self._now()
        ends = [as_utc(row.expires_at)] if row.expires_at is not None else []
        if ends and ends[0] <= now:
            return Verdict.EXPIRED, None
        if row.key_hash != key_hash:  # the secret before the last rotation
            grace = row.previous_expires_at
            if grace is None or as_utc(grace) <= now:
                return Verdict.ROTATED, None
            ends.append(as_utc(grace))
        caller = Caller(row.id, row.project_id, row.name, row.currency, row.paused_at)
        return caller, min(ends) if ends else None

    def _read_fingerprint(self) -> tuple[Any, ...]:
        query = select(
            func.count(),
            func.max(ApiKey.created_at),
            func.max(ApiKey.revoked_at),
            func.max(ApiKey.paused_at),
            func.max(ApiKey.resumed_at),
            func.max(ApiKey.rotated_at),
        )
        with read_transaction(self.engine) as conn:
            return tuple(conn.execute(query).one())

    def _drop(self) -> None:
        self._entries.clear()

    def cached(self, secret: str) -> Entry | None:
        """What the cache knows of a secret, without reading the database."""
        if not secret.startswith(PREFIX):
            return Verdict.UNKNOWN
        return self._entries.get(hash_secret(secret))

    async def resolve(self, secret: str) -> Caller:
        """The caller a secret belongs to (perhaps paused); a 401 ApiError when none does."""
        self._start_watching()
        entry = self.cached(secret)
        if entry is None or (isinstance(entry, Caller) and entry.paused_at is not None):
            entry = await self.look_up(secret)
        if isinstance(entry, Verdict):
            raise refused(entry)
        return entry

    async def look_up(self, secret: str) -> Entry:
        key_hash = hash_secret(secret)
        self.lookups += 1
        entry, until = await asyncio.to_thread(self._lookup, key_hash)
        within = None if until is None else (until - self._now()).total_seconds()
        self._entries.put(key_hash, entry, within)
        return entry

    def forget(self, secret: str, verdict: Verdict = Verdict.REVOKED) -> None:
        """Budget said the key is revoked (or expired): refuse it from now on."""
        self._entries.put(hash_secret(secret), verdict)
        self._notify()
