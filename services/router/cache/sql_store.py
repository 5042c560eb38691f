"""The cache in the database's `response_cache` table (migration 0008), which only
the router writes. One row an answer, keyed by project and cache key; a write drops
the project's expired rows and, past its size cap, its oldest. Queries run in a
worker thread: the event loop never waits on the database."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.router.cache.store import CachedAnswer, Clock, Limits, system_clock
from tollgate.db.engine import as_utc
from tollgate.db.routing_models import RESPONSE_CACHE
from tollgate.v1 import common_pb2

log = logging.getLogger(__name__)
T = RESPONSE_CACHE.c


class SqlCacheStore:
    def __init__(self, engine: Engine, limits: Limits, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._limits = limits
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def get(self, project_id: str, key: str) -> CachedAnswer | None:
        try:
            return await asyncio.to_thread(self._get, project_id, key)
        except SQLAlchemyError:
            log.exception("response cache read failed; answering from the upstream")
            return None

    async def put(self, project_id: str, key: str, answer: CachedAnswer) -> None:
        try:
            await asyncio.to_thread(self._put, project_id, key, answer)
        except IntegrityError:
            pass  # another router stored the same request at the same moment
        except SQLAlchemyError:
            log.exception("response cache write failed; the answer is not cached")

    async def aclose(self) -> None:
        self._engine.dispose()

    def _get(self, project_id: str, key: str) -> CachedAnswer | None:
        now = self._now()
        mine = and_(T.project_id == project_id, T.cache_key == key)
        with self._engine.begin() as conn:
            row = conn.execute(select(RESPONSE_CACHE).where(mine)).first()
            if row is None or as_utc(row.expires_at) <= now:
                return None
            conn.execute(update(RESPONSE_CACHE).where(mine).values(hits=T.hits + 1))
        usage = common_pb2.Usage(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cached_tokens=row.cached_tokens,
            reasoning_tokens=row.reasoning_tokens,
        )
        return CachedAnswer(row.model, bytes(row.response), usage)

    def _put(self, project_id: str, key: str, answer: CachedAnswer) -> None:
        now = self._now()
        mine = T.project_id == project_id
        with self._engine.begin() as conn:
            conn.execute(delete(RESPONSE_CACHE).where(mine, T.cache_key == key))
            conn.execute(delete(RESPONSE_CACHE).where(mine, T.expires_at <= now))
            conn.execute(
                RESPONSE_CACHE.insert().values(
                    project_id=project_id,
                    cache_key=key,
                    model=answer.model,
                    response=answer.response,
                    prompt_tokens=answer.usage.prompt_tokens,
                    completion_tokens=answer.usage.completion_tokens,
                    cached_tokens=answer.usage.cached_tokens,
                    reasoning_tokens=answer.usage.reasoning_tokens,
                    size_bytes=len(answer.response),
                    hits=0,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self._limits.ttl_seconds),
                )
            )
            count = conn.execute(select(func.count()).where(mine)).scalar_one()
            extra = count - self._limits.max_entries_per_project
            if extra > 0:
                oldest = (
                    select(T.cache_key)
                    .where(mine)
                    .order_by(T.created_at, T.cache_key)
                    .limit(extra)
                    .scalar_subquery()
                )
                conn.execute(delete(RESPONSE_CACHE).where(mine, T.cache_key.in_(oldest)))
