"""The rate_limits table, held in memory by the gateway.

No request waits on the database for its limits (except the very first one after
start): when the copy is older than `refresh_seconds`, a request kicks off a re-read
in the background and goes on with the copy it has. The re-read costs one tiny query
(row count and newest `updated_at`) unless something changed, so a changed limit
takes effect within a few seconds on every replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from tollgate.db.engine import read_transaction
from tollgate.db.models import RATE_LIMITS

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class OwnerLimits:
    """The limits of one project or key; None is no limit."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None


Fingerprint = tuple[int, datetime | None]


class LimitBook:
    def __init__(
        self,
        engine: Engine,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._limits: dict[str, OwnerLimits] = {}
        self._fingerprint: Fingerprint | None = None
        self._read_at: float | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._first_read = asyncio.Lock()

    def _read(self) -> None:
        with read_transaction(self._engine) as conn:
            count, newest = conn.execute(
                select(func.count(), func.max(RATE_LIMITS.c.updated_at))
            ).one()
            fingerprint = (int(count), newest)
            if fingerprint != self._fingerprint:
                rows: Any = conn.execute(select(RATE_LIMITS)).all()
                self._limits = {
                    row.owner_id: OwnerLimits(row.rpm, row.tpm, row.max_concurrent) for row in rows
                }
                self._fingerprint = fingerprint

    async def _reread(self) -> None:
        try:
            await asyncio.to_thread(self._read)
        except SQLAlchemyError as exc:
            # Keep enforcing the limits we know; try again at the next refresh.
            log.warning("cannot re-read rate limits: %s", exc)
        self._read_at = self._clock()

    async def get(self, owner_id: str) -> OwnerLimits | None:
        if self._read_at is None:
            async with self._first_read:
                if self._read_at is None:
                    await self._reread()
        elif self._clock() - self._read_at >= self._refresh_seconds and (
            self._refresh is None or self._refresh.done()
        ):
            self._refresh = asyncio.get_running_loop().create_task(self._reread())
        return self._limits.get(owner_id)
