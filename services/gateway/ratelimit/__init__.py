"""Rate limits per project and per key: requests and tokens per minute (token
buckets) and concurrent requests (leases), in process or shared through Redis."""

from services.gateway.ratelimit.book import LimitBook, OwnerLimits
from services.gateway.ratelimit.limiter import (
    Backend,
    Lease,
    Limiter,
    create_limiter,
    rate_limited,
)
from services.gateway.ratelimit.memory import MemoryBackend
from services.gateway.ratelimit.rules import Check, State, Unavailable, go_duration

__all__ = [
    "Backend",
    "Check",
    "Lease",
    "LimitBook",
    "Limiter",
    "MemoryBackend",
    "OwnerLimits",
    "State",
    "Unavailable",
    "create_limiter",
    "go_duration",
    "rate_limited",
]
