"""Project and key model policies (tables project_policies, key_policies), cached.

Like the key cache (auth.py): each looked-up policy expires after `ttl_seconds`, and
a watcher runs one cheap aggregate query over both tables every `watch_seconds`
(row counts and newest update time) and drops the whole cache when it changed, so
an operator's `tollgate policy set` reaches every gateway replica within a second
(and drops Budget's reusable answers, `on_change`, with the cache).
No request reads the database for a project or key whose policy it has seen."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from services.gateway.watched_cache import WatchedCache
from tollgate.db import read_transaction
from tollgate.db.routing_models import KEY_POLICIES, PROJECT_POLICIES, models_of
from tollgate.routing_config import Priority

log = logging.getLogger(__name__)

TTL_SECONDS = 60.0
WATCH_SECONDS = 0.5


@dataclass(frozen=True)
class ProjectRules:
    allowed: frozenset[str] = frozenset()  # empty: any model
    preferred: tuple[str, ...] = ()
    max_tokens: int | None = None
    max_prompt_tokens: int | None = None
    compact: bool = False
    priority: Priority | None = None
    downgrade: bool = False  # a downgrade threshold is set (Budget decides when)


@dataclass(frozen=True)
class KeyRules:
    allowed: frozenset[str] = frozenset()
    priority: Priority | None = None


NO_PROJECT_RULES = ProjectRules()
NO_KEY_RULES = KeyRules()


def _priority(text: str | None) -> Priority | None:
    return Priority(text) if text in set(Priority) else None


class PolicyCache(WatchedCache):
    what = "policies"

    def __init__(
        self,
        engine: Engine,
        *,
        ttl_seconds: float = TTL_SECONDS,
        watch_seconds: float = WATCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(watch_seconds)
        self.engine = engine
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, ProjectRules | KeyRules]] = {}
        self.lookups = 0  # database reads of one policy, for tests

    def _read(self, project_id: str, key_id: str) -> tuple[ProjectRules, KeyRules]:
        with read_transaction(self.engine) as conn:
            p = conn.execute(
                select(PROJECT_POLICIES).where(PROJECT_POLICIES.c.project_id == project_id)
            ).first()
            k = conn.execute(select(KEY_POLICIES).where(KEY_POLICIES.c.key_id == key_id)).first()
        project = NO_PROJECT_RULES
        if p is not None:
            project = ProjectRules(
                allowed=frozenset(models_of(p.allowed_models)),
                preferred=models_of(p.preferred_models),
                max_tokens=p.max_tokens_cap,
                max_prompt_tokens=p.max_prompt_tokens,
                compact=bool(p.compact_prompts),
                priority=_priority(p.default_priority),
                downgrade=p.downgrade_at_percent is not None or bool(p.downgrade_on_forecast),
            )
        key = NO_KEY_RULES
        if k is not None:
            key = KeyRules(frozenset(models_of(k.allowed_models)), _priority(k.default_priority))
        return project, key

    def _get(self, kind: str, ident: str) -> ProjectRules | KeyRules | None:
        item = self._entries.get((kind, ident))
        if item is None or item[0] <= self._clock():
            return None
        return item[1]

    async def rules(self, project_id: str, key_id: str) -> tuple[ProjectRules, KeyRules]:
        """The project's and the key's rules (defaults when none are set)."""
        self._start_watching()
        cached_project, cached_key = self._get("p", project_id), self._get("k", key_id)
        if isinstance(cached_project, ProjectRules) and isinstance(cached_key, KeyRules):
            return cached_project, cached_key
        self.lookups += 1
        project, key = await asyncio.to_thread(self._read, project_id, key_id)
        expires = self._clock() + self._ttl
        if len(self._entries) > 200_000:
            self._entries.clear()
        self._entries[("p", project_id)] = (expires, project)
        self._entries[("k", key_id)] = (expires, key)
        return project, key

    def _read_fingerprint(self) -> tuple[Any, ...]:
        with read_transaction(self.engine) as conn:
            projects = conn.execute(
                select(func.count(), func.max(PROJECT_POLICIES.c.updated_at))
            ).one()
            keys = conn.execute(select(func.count(), func.max(KEY_POLICIES.c.updated_at))).one()
        return (*projects, *keys)

    def _drop(self) -> None:
        self._entries.clear()
