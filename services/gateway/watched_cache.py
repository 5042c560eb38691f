"""What the gateway's caches of database rows share (keys: auth.py; policies:
policy_cache.py): a watcher that reads a small fingerprint of the cached tables every
few seconds and, when it changed, drops the whole cache and tells the listeners."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


class WatchedCache:
    """A cache dropped whole when its tables' fingerprint changes. A subclass reads the
    fingerprint (`_read_fingerprint`, blocking: run in a thread) and empties itself
    (`_drop`); `what` names its rows in the log."""

    what = "rows"

    def __init__(self, watch_seconds: float) -> None:
        self._watch_seconds = watch_seconds
        self._watcher: asyncio.Task[None] | None = None
        self._fingerprint: tuple[Any, ...] | None = None
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the cache is dropped for a change of its rows."""
        self._listeners.append(listener)

    def _read_fingerprint(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _drop(self) -> None:
        raise NotImplementedError

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    async def check_version(self) -> bool:
        """Drop the cache when its rows changed since the last check; whether they had."""
        fingerprint = await asyncio.to_thread(self._read_fingerprint)
        changed = self._fingerprint is not None and fingerprint != self._fingerprint
        if changed:
            self._drop()
            self._notify()
        self._fingerprint = fingerprint
        return changed

    async def _watch(self) -> None:
        while True:
            try:
                await self.check_version()
            except SQLAlchemyError as exc:
                # Entries still expire on their own; try again at the next tick.
                log.warning("cannot check the %s' version: %s", self.what, exc)
            await asyncio.sleep(self._watch_seconds)

    def _start_watching(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
