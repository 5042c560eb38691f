"""Throttle failed key lookups per client address.

A client that sends `limit` unknown or revoked keys within `window_seconds` gets a
429 for every secret the key cache does not already know, without a database
lookup, until its window passes. Counters live in this process (each replica
throttles on its own) and are pruned as they expire, so memory stays bounded by
the addresses that failed within one window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.gateway.errors import ApiError

FAILURES = 20
WINDOW_SECONDS = 10.0
PRUNE_ABOVE = 10_000  # addresses tracked before expired ones are swept


@dataclass
class _Window:
    started: float
    failures: int


class FailureThrottle:
    def __init__(
        self,
        limit: int = FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def _current(self, address: str, now: float) -> _Window | None:
        window = self._windows.get(address)
        if window is not None and now - window.started >= self.window_seconds:
            del self._windows[address]
            return None
        return window

    def check(self, address: str) -> None:
        """A 429 ApiError when `address` has failed too often in its current window."""
        now = self._clock()
        window = self._current(address, now)
        if window is None or window.failures < self.limit:
            return
        wait = window.started + self.window_seconds - now
        raise ApiError(
            429,
            f"Too many requests with an invalid API key from this address; "
            f"try again in {math.ceil(wait)} s.",
            type="requests",
            code="too_many_invalid_keys",
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )

    def failed(self, address: str) -> None:
        now = self._clock()
        window = self._current(address, now)
        if window is None:
            if len(self._windows) >= PRUNE_ABOVE:
                self._prune(now)
            window = self._windows[address] = _Window(now, 0)
        window.failures += 1

    def _prune(self, now: float) -> None:
        expired = [a for a, w in self._windows.items() if now - w.started >= self.window_seconds]
        for address in expired:
            del self._windows[address]
        while len(self._windows) >= PRUNE_ABOVE:  # still full: forget the oldest windows
            del self._windows[next(iter(self._windows))]
