"""Run one request down its attempt plan until a deployment answers.

Each attempt gets what is left of the request's deadline. A deployment failure
(see retry.py) cools the deployment down and, after a jittered backoff, moves on
to the next attempt; a failure of the request itself ends it at once. A
deployment whose cooldown just ended is tried only if this request claims its
probe. `call` must return once the answer has started and nothing has reached the
client yet (for a stream: once its first chunk is in hand), because nothing after
that point may switch deployment: a started stream stays where it started.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.router.providers.base import UpstreamError
from services.router.routing.cooldown import Clock, CooldownStore, Health, RecentError
from services.router.routing.retry import (
    Deadline,
    RetryPolicy,
    deadline_exceeded,
    is_deployment_failure,
)
from services.router.routing.table import Attempt

T = TypeVar("T")


@dataclass(frozen=True)
class FailedAttempt:
    attempt: Attempt
    error: UpstreamError


@dataclass(frozen=True)
class Served(Generic[T]):
    """What answered, and what failed before it (failed attempts cost nothing)."""

    value: T
    attempt: Attempt
    failures: tuple[FailedAttempt, ...]

    @property
    def attempts(self) -> int:
        return len(self.failures) + 1


class AllAttemptsFailed(Exception):
    """No deployment answered; `error` is what the client should see. `cut_off` is
    the attempt the deadline ended while it was in flight (its upstream had the
    request, and may bill it), None when the request ended between attempts."""

    def __init__(
        self,
        error: UpstreamError,
        failures: Sequence[FailedAttempt],
        cut_off: Attempt | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.failures = tuple(failures)
        self.cut_off = cut_off


def no_deployment_available() -> UpstreamError:
    return UpstreamError(
        503,
        "server_error",
        "no_deployment_available",
        "Every upstream deployment of this model is cooling down after failures; retry later.",
    )


@dataclass
class Failover:
    """What a request's attempts share: cooldown state, the retry policy, the
    deadline. `sleep` and `wall_clock` are injectable for tests."""

    cooldowns: CooldownStore
    policy: RetryPolicy
    deadline: Deadline
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    wall_clock: Clock = field(default=time.time)

    async def _may_try(self, attempt: Attempt) -> bool:
        if attempt.health is Health.PROBE:
            return await self.cooldowns.begin(attempt.deployment.key)
        return True  # healthy, or a cooling one tried as the last resort

    async def run(
        self, plan: Sequence[Attempt], call: Callable[[Attempt], Awaitable[T]]
    ) -> Served[T]:
        """The first answer along `plan`; AllAttemptsFailed when there is none."""
        failures: list[FailedAttempt] = []
        last: UpstreamError | None = None
        for index, attempt in enumerate(plan):
            if not await self._may_try(attempt):
                continue
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise AllAttemptsFailed(deadline_exceeded(), failures)
            key = attempt.deployment.key
            try:
                # asyncio.timeout, not wait_for: the attempt runs in this task, not a new one.
                async with asyncio.timeout(remaining):
                    value = await call(attempt)
            except TimeoutError:
                # The request ran out of time, not necessarily the deployment.
                raise AllAttemptsFailed(deadline_exceeded(), failures, attempt) from None
            except UpstreamError as error:
                failures.append(FailedAttempt(attempt, error))
                last = error
                if not is_deployment_failure(error):
                    raise AllAttemptsFailed(error, failures) from error
                await self.cooldowns.failed(key, RecentError.of(error, self.wall_clock()))
                wait = self.policy.next_wait(error, len(failures), self.deadline)
                if wait is None or index == len(plan) - 1:
                    break
                await self.sleep(wait)
                continue
            if attempt.health is not Health.HEALTHY:
                await self.cooldowns.succeeded(key)
            return Served(value, attempt, tuple(failures))
        raise AllAttemptsFailed(last or no_deployment_available(), failures)
