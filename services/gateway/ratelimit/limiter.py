"""Take a call's rate limits before it runs, give back what it did not use after.

    lease = await limiter.acquire(caller, tokens=estimate, lease_id=request_id)
    try:
        ...                       # the call
        lease.settle(actual)      # when its real token count is known
    finally:
        lease.release()           # always: frees the concurrency slot

`acquire` raises a 429 ApiError (OpenAI's `rate_limit_exceeded`) when any limit of the
caller's project or key would be passed, and then takes nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine

from services.gateway.caller import Caller
from services.gateway.errors import ApiError
from services.gateway.ratelimit.book import LimitBook, OwnerLimits
from services.gateway.ratelimit.rules import (
    NEVER,
    Check,
    Kind,
    State,
    Unavailable,
    go_duration,
    remaining,
    reset_seconds,
)

log = logging.getLogger(__name__)


class Backend(Protocol):
    def key(self, group: str, name: str) -> str: ...

    async def take(self, checks: Sequence[Check], lease_id: str) -> tuple[bool, list[State]]: ...

    async def peek(self, checks: Sequence[Check]) -> tuple[bool, list[State]]:
        """What `take` would answer now, taking nothing."""
        ...

    def give_back(
        self, checks: Sequence[Check], lease_id: str, token_delta: int
    ) -> asyncio.Future[None] | None:
        """Free the lease's slots and move its token buckets by `token_delta`; a backend
        that does it in the background returns what to await to see it done."""
        ...

    async def flush(self) -> None: ...

    async def aclose(self) -> None: ...


def rate_headers(checks: Sequence[Check], states: Sequence[State]) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers, for the tightest requests and tokens limit."""
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        pairs = [(c, s) for c, s in zip(checks, states, strict=True) if c.kind == kind]
        if not pairs:
            continue
        check, state = min(pairs, key=lambda p: (remaining(*p), -reset_seconds(*p)))
        headers[f"x-ratelimit-limit-{kind}"] = str(check.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(remaining(check, state))
        headers[f"x-ratelimit-reset-{kind}"] = go_duration(reset_seconds(check, state))
    return headers


_PER_MIN = {"requests": "requests per min (RPM)", "tokens": "tokens per min (TPM)"}


def _message(check: Check, state: State) -> str:
    used = math.ceil(state.used - 1e-9)
    if check.kind == "concurrent":
        return (
            f"Concurrency limit reached for {check.owner}: Limit {check.limit} concurrent "
            f"requests, {used} running. Please try again when one of them finishes."
        )
    if state.wait_seconds == NEVER:
        return (
            f"Request too large for {check.owner} on {_PER_MIN[check.kind]}: "
            f"Limit {check.limit}, Requested {check.cost}. The input or output tokens must "
            "be reduced in order to run successfully."
        )
    return (
        f"Rate limit reached for {check.owner} on {_PER_MIN[check.kind]}: Limit "
        f"{check.limit}, Used {used}, Requested {check.cost}. Please try again in "
        f"{go_duration(state.wait_seconds)}."
    )


def rate_limited(checks: Sequence[Check], states: Sequence[State]) -> ApiError:
    """The 429 for a refused call, naming the limit that holds it back longest."""
    check, state = max(zip(checks, states, strict=True), key=lambda p: p[1].wait_seconds)
    headers = rate_headers(checks, states)
    if state.wait_seconds == NEVER:
        headers["x-should-retry"] = "false"  # waiting cannot help
    else:
        headers["retry-after"] = str(max(1, math.ceil(state.wait_seconds)))
        headers["retry-after-ms"] = str(math.ceil(state.wait_seconds * 1000))
    return ApiError(
        429,
        _message(check, state),
        type="tokens" if check.kind == "tokens" else "requests",
        code="rate_limit_exceeded",
        headers=headers,
    )


@dataclass(eq=False)
class Lease:
    """What one call took. `settle` and `release` are synchronous (a Redis backend
    sends the release in the background) and safe to call more than once."""

    lease_id: str = ""
    checks: tuple[Check, ...] = ()
    states: tuple[State, ...] = ()
    reserved_tokens: int = 0
    backend: Backend | None = None
    actual_tokens: int | None = field(default=None, init=False)
    released: bool = field(default=False, init=False)
    _giving_back: asyncio.Future[None] | None = field(default=None, init=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The x-ratelimit-* headers for the call's response (empty: no limit)."""
        return rate_headers(self.checks, self.states)

    def settle(self, actual_tokens: int) -> None:
        """The call's real token count (prompt + completion); the first one counts.
        Without it, the release keeps the whole estimate taken."""
        if self.actual_tokens is None:
            self.actual_tokens = max(0, actual_tokens)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.backend is None or not self.checks:
            return
        delta = 0 if self.actual_tokens is None else self.actual_tokens - self.reserved_tokens
        self._giving_back = self.backend.give_back(self.checks, self.lease_id, delta)

    async def aclose(self) -> None:
        """Release, and wait until the shared counters have it: a client that sees its
        call end may send the next one at once, to any replica."""
        self.release()
        if self._giving_back is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._giving_back)


def _checks(
    backend: Backend, group: str, owner_id: str, owner: str, limits: OwnerLimits, tokens: int
) -> list[Check]:
    wanted: list[tuple[Kind, int | None, int]] = [
        ("requests", limits.rpm, 1),
        ("tokens", limits.tpm, tokens),
        ("concurrent", limits.max_concurrent, 1),
    ]
    return [
        Check(backend.key(group, f"{owner_id}:{kind}"), kind, limit, cost, owner)
        for kind, limit, cost in wanted
        if limit is not None
    ]


class Limiter:
    def __init__(self, book: LimitBook | None, backend: Backend) -> None:
        self.book = book
        self.backend = backend

    @classmethod
    def unlimited(cls) -> Limiter:
        from services.gateway.ratelimit.memory import MemoryBackend

        return cls(None, MemoryBackend())

    async def checks_for(self, caller: Caller, tokens: int) -> list[Check]:
        if self.book is None:
            return []
        checks: list[Check] = []
        key_limits = await self.book.get(caller.key_id)
        if key_limits is not None:
            owner = f"key {caller.key_id} of project {caller.project}"
            checks += _checks(
                self.backend, caller.project_id, caller.key_id, owner, key_limits, tokens
            )
        project_limits = await self.book.get(caller.project_id)
        if project_limits is not None:
            owner = f"project {caller.project}"
            checks += _checks(
                self.backend, caller.project_id, caller.project_id, owner, project_limits, tokens
            )
        return checks

    async def admit(self, caller: Caller) -> None:
        """A 429 ApiError when the caller's request-rate or concurrency limit is full
        (or a token bucket overdrawn) now; takes nothing. Run before a call's body is
        read and counted, so a caller who may not call costs no counting (`acquire`
        still takes all limits at once)."""
        # Tokens at a cost of 0: refused only when overdrawn, which no call would pass;
        # peeked so that a refusal carries every x-ratelimit-* header.
        checks = await self.checks_for(caller, 0)
        if not checks:
            return
        try:
            allowed, states = await self.backend.peek(checks)
        except Unavailable:
            return  # as in acquire: budgets still hold
        if not allowed:
            raise rate_limited(checks, states)

    async def acquire(self, caller: Caller, tokens: int, lease_id: str) -> Lease:
        """Take one request, `tokens` tokens and a concurrency slot from every limit of
        the caller's key and project, all or nothing; a 429 ApiError when any is full.
        `tokens` is the call's estimate: prompt tokens plus the most it may generate."""
        tokens = max(0, tokens)
        checks = await self.checks_for(caller, tokens)
        if not checks:
            return Lease(lease_id)
        try:
            allowed, states = await self.backend.take(checks, lease_id)
        except Unavailable as exc:
            # Budgets still hold without Redis; refusing every call would not help.
            log.warning("rate limits not enforced for %s: %s", lease_id, exc)
            return Lease(lease_id)
        if not allowed:
            raise rate_limited(checks, states)
        return Lease(lease_id, tuple(checks), tuple(states), tokens, self.backend)

    async def aclose(self) -> None:
        await self.backend.aclose()


def create_limiter(engine: Engine, redis_url: str = "") -> Limiter:
    """The gateway's limiter: counters in Redis when a URL is set, else in process."""
    backend: Backend
    if redis_url:
        from services.gateway.ratelimit.redis_backend import RedisBackend

        backend = RedisBackend.from_url(redis_url)
    else:
        from services.gateway.ratelimit.memory import MemoryBackend

        backend = MemoryBackend()
    return Limiter(LimitBook(engine), backend)
