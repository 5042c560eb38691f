"""Which failures move a request on to the next deployment, how long to wait
before it, and the one deadline all attempts of a request share.

A failure of the deployment (429, any 5xx: upstream errors, timeouts, connection
and proxy failures, refused credentials) is retried elsewhere; a failure of the
request (a 4xx the upstream passed on: bad parameters, a prompt too long) is not,
since every deployment would refuse it too. Between attempts the wait grows
exponentially with equal jitter (half fixed, half random), so replicas retrying
after one outage spread out; and no wait or attempt may pass the deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from services.router.providers.base import SERVER_ERROR, UpstreamError
from tollgate.routing_config import RetrySettings


def is_deployment_failure(error: UpstreamError) -> bool:
    """Retry on another deployment, and cool this one down."""
    return error.http_status == 429 or error.http_status >= 500


def deadline_exceeded() -> UpstreamError:
    return UpstreamError(
        504,
        SERVER_ERROR,
        "upstream_timeout",
        "No upstream provider answered within the request's deadline.",
    )


class Deadline:
    """The end of a whole request, every attempt and wait included."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


class RetryPolicy:
    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (from 1): half of
        min(max_backoff, backoff * 2**(retry-1)) plus up to as much again."""
        s = self.settings
        try:
            ceiling = min(s.max_backoff_seconds, s.backoff_seconds * 2 ** max(0, retry - 1))
        except OverflowError:
            ceiling = s.max_backoff_seconds
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def next_wait(self, error: UpstreamError, attempts: int, deadline: Deadline) -> float | None:
        """After `attempts` attempts, the last failing with `error`: the wait before
        the next one, or None when the request should end with this error."""
        if not is_deployment_failure(error):
            return None
        if self.settings.max_attempts is not None and attempts >= self.settings.max_attempts:
            return None
        wait = self.backoff(attempts)
        # Waiting must leave time for the next attempt to do something.
        return wait if wait < deadline.remaining() else None
