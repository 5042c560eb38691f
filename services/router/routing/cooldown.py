"""Cooldowns: a deployment that fails is skipped for a while, then probed.

A failure (429, 5xx, timeout, connection or proxy error) cools the deployment for
`seconds`, times `factor` for each further failure in a row, at most `max_seconds`.
Failures that arrive while it is already cooling (calls that were in flight) do not
lengthen it. When the cooldown ends, exactly one call is let through as the probe
(`begin` claims it; the others keep skipping the deployment): its success makes the
deployment healthy again, its failure cools it for longer. A probe that never
reports (its router died) frees the slot after `probe_seconds`. The last errors of
each deployment are kept, whatever happens, for `tollgate routes`.

Two stores keep this state: `MemoryCooldowns` in one router process, and
`RedisCooldowns` (cooldown_redis.py) shared by every router replica.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from services.router.providers.base import UpstreamError
from tollgate.routing_config import CooldownSettings

Clock = Callable[[], float]  # seconds since the epoch, shared by replicas


class Health(StrEnum):
    HEALTHY = "healthy"
    COOLING = "cooling"  # skipped until the cooldown ends
    PROBE = "probe"  # cooldown over: the next call to claim it is the probe
    PROBING = "probing"  # a probe is in flight: skipped until it reports

    @property
    def usable(self) -> bool:
        """Whether a plan may hold the deployment (a PROBE still has to be claimed)."""
        return self in (Health.HEALTHY, Health.PROBE)


@dataclass(frozen=True)
class RecentError:
    at: float  # seconds since the epoch
    status: int  # the HTTP status the client would have seen
    code: str
    message: str

    @classmethod
    def of(cls, error: UpstreamError, at: float) -> RecentError:
        return cls(at, error.http_status, error.code, error.message)


@dataclass(frozen=True)
class DeploymentState:
    """One deployment's cooldown, as `tollgate routes` shows it."""

    key: str
    health: Health
    failures: int  # in a row, since it last worked
    cooling_until: float | None
    recent_errors: tuple[RecentError, ...]  # newest first


def cooldown_seconds(settings: CooldownSettings, failures: int) -> float:
    """How long the `failures`-th failure in a row cools a deployment."""
    exponent = max(0, failures - 1)
    try:
        grown = settings.seconds * settings.factor**exponent
    except OverflowError:
        return settings.max_seconds
    return min(grown, settings.max_seconds)


class CooldownStore(Protocol):
    async def health(self, keys: Sequence[str]) -> dict[str, Health]:
        """The health of each deployment (by `DeploymentConfig.key`); claims nothing."""
        ...

    async def begin(self, key: str) -> bool:
        """Whether an attempt may go to the deployment now; for one whose cooldown
        ended, claims the single probe (False when another call holds it)."""
        ...

    async def failed(self, key: str, error: RecentError) -> float:
        """Record a failure; the seconds the deployment now stays cooled down."""
        ...

    async def succeeded(self, key: str) -> None:
        """Record a success: a probe's (or any call's outside a cooldown) makes the
        deployment healthy. A call that started before a cooldown and succeeds
        during it does not end the cooldown."""
        ...

    async def state(self, key: str) -> DeploymentState: ...

    async def aclose(self) -> None: ...


@dataclass
class _Entry:
    failures: int = 0
    until: float = 0.0  # cooling until; 0 with failures 0: healthy
    probe_until: float = 0.0  # a probe holds the slot until then
    forget_at: float = 0.0  # the failure streak is forgotten after this
    errors: deque[RecentError] = field(default_factory=deque)


class MemoryCooldowns:
    """Cooldowns of one router process."""

    def __init__(self, settings: CooldownSettings, clock: Clock = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.failures and entry.forget_at <= now:
            entry.failures, entry.until, entry.probe_until = 0, 0.0, 0.0
        return entry if entry is not None and entry.failures else None

    def _health(self, key: str, now: float) -> Health:
        entry = self._live(key, now)
        if entry is None:
            return Health.HEALTHY
        if entry.until > now:
            return Health.COOLING
        return Health.PROBING if entry.probe_until > now else Health.PROBE

    async def health(self, keys: Sequence[str]) -> dict[str, Health]:
        now = self._clock()
        return {key: self._health(key, now) for key in keys}

    async def begin(self, key: str) -> bool:
        now = self._clock()
        health = self._health(key, now)
        if health is Health.PROBE:
            self._entries[key].probe_until = now + self._settings.probe_seconds
        return health in (Health.HEALTHY, Health.PROBE)

    async def failed(self, key: str, error: RecentError) -> float:
        now = self._clock()
        entry = self._entries.setdefault(key, _Entry())
        if self._settings.recent_errors:
            entry.errors.appendleft(error)
            while len(entry.errors) > self._settings.recent_errors:
                entry.errors.pop()
        if self._live(key, now) is not None and entry.until > now:
            return entry.until - now
        entry.failures += 1
        wait = cooldown_seconds(self._settings, entry.failures)
        entry.until = now + wait
        entry.probe_until = 0.0
        entry.forget_at = entry.until + self._settings.max_seconds
        return wait

    async def succeeded(self, key: str) -> None:
        now = self._clock()
        entry = self._live(key, now)
        if entry is not None and entry.until <= now:
            entry.failures, entry.until, entry.probe_until = 0, 0.0, 0.0

    async def state(self, key: str) -> DeploymentState:
        now = self._clock()
        health = self._health(key, now)
        entry = self._live(key, now)
        errors = tuple(self._entries[key].errors) if key in self._entries else ()
        return DeploymentState(
            key=key,
            health=health,
            failures=entry.failures if entry else 0,
            cooling_until=entry.until if entry and entry.until > now else None,
            recent_errors=errors,
        )

    async def aclose(self) -> None:
        return None
