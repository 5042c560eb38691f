"""What the cache keeps, and the interface of the places that keep it (the database
by default, Redis when configured). A store never fails a call: each method logs
and answers "nothing" on a storage error."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tollgate.v1 import common_pb2

Clock = Callable[[], float]  # unix seconds; tests pass their own to expire entries


@dataclass(frozen=True)
class CachedAnswer:
    """One answer of one project: the non-streaming response body (JSON), the model
    that answered it, and its usage (what a hit is recorded with)."""

    model: str
    response: bytes
    usage: common_pb2.Usage


@dataclass(frozen=True)
class Limits:
    ttl_seconds: float
    max_entries_per_project: int


class CacheStore(Protocol):
    async def get(self, project_id: str, key: str) -> CachedAnswer | None:
        """The project's unexpired answer under `key`, or None."""
        ...

    async def put(self, project_id: str, key: str, answer: CachedAnswer) -> None:
        """Keep `answer` for the TTL; past the project's size cap the oldest go."""
        ...

    async def aclose(self) -> None: ...


def system_clock() -> float:
    return time.time()
