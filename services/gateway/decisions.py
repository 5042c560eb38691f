"""Budget's ALLOWED answers that the gateway may reuse without asking (Authorize's
`reuse_ms`): for a project and key without a hard budget, where Budget holds nothing
and only checks the key and the prices, the same key and call shape gets the same
answer for up to a second, so the call skips the Authorize hop and runs unreserved,
as it would have anyway (Settle prices it at its start time).

An entry is kept only as long as Budget said, and the whole cache is dropped as soon
as the key watcher sees any key change (revocation, pause, resume, rotation) or the
policy watcher a policy change (`clear`, wired in deps.py). Refusals and downgrades
are never kept; Batch API lines never reuse. Bounded: past `capacity` entries it
starts afresh."""

from __future__ import annotations

import time
from collections.abc import Callable

# (key id, served model, candidate models, downgrade model, its candidates)
Shape = tuple[str, str, tuple[str, ...], str, tuple[str, ...]]

CAPACITY = 10_000


class DecisionCache:
    def __init__(
        self, capacity: int = CAPACITY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._until: dict[Shape, float] = {}
        self._capacity = capacity
        self._clock = clock
        self.hits = 0  # calls that skipped Authorize, for tests and metrics

    def allowed(self, shape: Shape) -> bool:
        """Whether Budget's ALLOWED answer for this shape may still be reused."""
        until = self._until.get(shape)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[shape]
            return False
        self.hits += 1
        return True

    def keep(self, shape: Shape, reuse_ms: int) -> None:
        """Remember an ALLOWED answer for `reuse_ms` (0 or less: not at all)."""
        if reuse_ms <= 0:
            return
        if len(self._until) >= self._capacity:
            self._until.clear()
        self._until[shape] = self._clock() + reuse_ms / 1000

    def clear(self) -> None:
        self._until.clear()

    def __len__(self) -> int:
        return len(self._until)
