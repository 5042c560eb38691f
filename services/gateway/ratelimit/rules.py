"""What a call is checked against, and the token-bucket arithmetic both backends share.

Requests and tokens per minute are token buckets that refill continuously: a bucket
holds `limit` units, refills at `limit / 60` units a second, and a call takes its cost
from it. This is what OpenAI's limits do (a burst up to the limit, then a steady
rate), it needs one (level, time) pair per bucket rather than a log of every call,
and it makes settlement exact: giving back the unused part of a token estimate is a
subtraction from the level. We store the bucket's *used* level, which drains to 0.

The level may pass the limit when a call used more tokens than it reserved (no
max_tokens); the next calls then wait until it drains, as OpenAI's do.

Concurrent requests are counted as leases, one per running call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Kind = Literal["requests", "tokens", "concurrent"]
SECONDS_PER_WINDOW = 60.0
# A concurrency slot frees when some running call ends; when is unknown, so ask
# the client to come back in a second.
CONCURRENT_RETRY_SECONDS = 1.0
NEVER = math.inf


class Unavailable(Exception):
    """The shared counters cannot be reached."""


@dataclass(frozen=True)
class Check:
    """One limit a call must fit: `cost` units of a bucket, or one concurrency slot."""

    key: str  # storage key, unique per owner and kind
    kind: Kind
    limit: int
    cost: int
    owner: str  # "project acme" or "key key_123 of project acme", for messages


@dataclass(frozen=True)
class State:
    """A check's state as the backend saw it: `used` after the take (or now, when the
    call was refused), and how long until the call would fit (0 when it fits)."""

    used: float
    wait_seconds: float


def drained(level: float, elapsed_seconds: float, limit: int) -> float:
    """A bucket's used level after `elapsed_seconds` of refilling."""
    return max(0.0, level - max(0.0, elapsed_seconds) * limit / SECONDS_PER_WINDOW)


def wait_for(level: float, cost: int, limit: int) -> float:
    """Seconds until `cost` fits in a bucket at `level`; NEVER when it exceeds the limit."""
    if cost > limit:
        return NEVER
    excess = level + cost - limit
    return 0.0 if excess <= 0 else excess * SECONDS_PER_WINDOW / limit


def remaining(check: Check, state: State) -> int:
    return max(0, math.floor(check.limit - state.used + 1e-9))


def reset_seconds(check: Check, state: State) -> float:
    """Seconds until the bucket is full again (OpenAI's x-ratelimit-reset-*)."""
    return max(0.0, state.used) * SECONDS_PER_WINDOW / check.limit


def go_duration(seconds: float) -> str:
    """A duration as OpenAI's headers write it (Go's format): 20ms, 1s, 6m0s, 1h2m3.5s."""
    millis = max(0, round(seconds * 1000))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
