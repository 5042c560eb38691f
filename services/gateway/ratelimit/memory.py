"""In-process counters: the default backend, exact for one gateway process."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.gateway.ratelimit.rules import (
    CONCURRENT_RETRY_SECONDS,
    Check,
    State,
    drained,
    wait_for,
)


class MemoryBackend:
    """Buckets and concurrency slots in this process. Single-threaded (the event
    loop), so a take is atomic without a lock: it never awaits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (used level, at)
        self._slots: dict[str, set[str]] = {}  # key -> lease ids

    def key(self, group: str, name: str) -> str:
        return f"{group}:{name}"

    def _level(self, check: Check, now: float) -> float:
        level, at = self._buckets.get(check.key, (0.0, now))
        return drained(level, now - at, check.limit)

    def _states(self, checks: Sequence[Check], now: float) -> list[State]:
        states = []
        for check in checks:
            if check.kind == "concurrent":
                running = len(self._slots.get(check.key, ()))
                full = running + 1 > check.limit
                states.append(State(running, CONCURRENT_RETRY_SECONDS if full else 0.0))
            else:
                level = self._level(check, now)
                states.append(State(level, wait_for(level, check.cost, check.limit)))
        return states

    async def peek(self, checks: Sequence[Check]) -> tuple[bool, list[State]]:
        """Whether the checks would pass now, taking nothing."""
        states = self._states(checks, self._clock())
        return all(state.wait_seconds == 0 for state in states), states

    async def take(self, checks: Sequence[Check], lease_id: str) -> tuple[bool, list[State]]:
        now = self._clock()
        states = self._states(checks, now)
        if any(state.wait_seconds > 0 for state in states):
            return False, states
        taken = []
        for check, state in zip(checks, states, strict=True):
            if check.kind == "concurrent":
                self._slots.setdefault(check.key, set()).add(lease_id)
                taken.append(State(state.used + 1, 0.0))
            else:
                self._buckets[check.key] = (state.used + check.cost, now)
                taken.append(State(state.used + check.cost, 0.0))
        return True, taken

    def give_back(self, checks: Sequence[Check], lease_id: str, token_delta: int) -> None:
        """Free the lease's slots and move token buckets by `token_delta` (actual
        minus reserved: negative gives unused tokens back), at once."""
        now = self._clock()
        for check in checks:
            if check.kind == "concurrent":
                slots = self._slots.get(check.key)
                if slots is not None:
                    slots.discard(lease_id)
                    if not slots:
                        del self._slots[check.key]
            elif check.kind == "tokens" and token_delta:
                level = max(0.0, self._level(check, now) + token_delta)
                self._buckets[check.key] = (level, now)

    async def flush(self) -> None:
        """Nothing is ever pending here."""

    async def aclose(self) -> None:
        self._buckets.clear()
        self._slots.clear()
