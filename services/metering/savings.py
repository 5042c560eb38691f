"""Savings: what tollgate's levers saved against the model the client asked for.

Each ledger row keeps `saved_nano`, its reference cost (the asked model at its whole
price, the usage before prompt compaction) less its cost, never negative. This module
only sums those integers, so every amount shown equals the ledger's sums exactly
(invariant 1). A row counts under one lever: a cache hit under `cache`; else a Batch
API line under `batch` (its reference is the whole price, so it saved the batch
discount, plus whatever another lever saved on it); else its route reason
(`downgrade`, `priority`, `task`, `preference`, `fallback`); else `compaction` when
prompt compaction removed tokens; else, when it still saved something (a cheaper
deployment of the asked route), `deployment`. Rows that saved nothing through any
lever count only in the totals.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, func, select

from services.metering.statuses import CallStatus, RouteReason
from tollgate.db import read_transaction
from tollgate.db.models import LEDGER, PROJECTS


class Lever(enum.StrEnum):
    CACHE = "cache"
    BATCH = "batch"
    DOWNGRADE = "downgrade"
    PRIORITY = "priority"
    TASK = "task"
    PREFERENCE = "preference"
    FALLBACK = "fallback"
    COMPACTION = "compaction"
    DEPLOYMENT = "deployment"


@dataclass
class Sums:
    requests: int = 0
    cache_hits: int = 0
    cost_nano: int = 0
    saved_nano: int = 0
    compacted_tokens: int = 0

    @property
    def reference_nano(self) -> int:
        return self.cost_nano + self.saved_nano

    def add(self, other: Sums) -> None:
        self.requests += other.requests
        self.cache_hits += other.cache_hits
        self.cost_nano += other.cost_nano
        self.saved_nano += other.saved_nano
        self.compacted_tokens += other.compacted_tokens


@dataclass
class LeverLine:
    project_id: str
    project: str
    lever: Lever
    currency: str
    sums: Sums


@dataclass
class Savings:
    lines: list[LeverLine] = field(default_factory=list)
    # Every billed call, lever or not, per currency (never added across currencies).
    totals: dict[str, Sums] = field(default_factory=dict)


def lever_of(
    cache_hit: bool, route_reason: str, compacted: bool, saved: bool, batched: bool = False
) -> Lever | None:
    if cache_hit or route_reason == RouteReason.CACHE:
        return Lever.CACHE
    if batched:
        return Lever.BATCH
    if route_reason != RouteReason.ASKED and route_reason in Lever.__members__.values():
        return Lever(route_reason)
    if compacted:
        return Lever.COMPACTION
    return Lever.DEPLOYMENT if saved else None


def _grouped(conn: Connection, first: datetime, end: datetime, project_id: str | None) -> Any:
    compacted = case((LEDGER.c.compacted_tokens > 0, True), else_=False).label("compacted")
    saving = case((LEDGER.c.saved_nano > 0, True), else_=False).label("saving")
    batched = case((LEDGER.c.batch_id != "", True), else_=False).label("batched")
    keys = (LEDGER.c.project_id, LEDGER.c.currency, LEDGER.c.cache_hit, LEDGER.c.route_reason)
    query = (
        select(
            *keys,
            compacted,
            saving,
            batched,
            func.count(),
            func.sum(LEDGER.c.cost_nano),
            func.sum(LEDGER.c.saved_nano),
            func.sum(LEDGER.c.compacted_tokens),
        )
        .where(
            LEDGER.c.started_at >= first,
            LEDGER.c.started_at < end,
            LEDGER.c.status != str(CallStatus.FAILED),
        )
        .group_by(*keys, compacted, saving, batched)
    )
    if project_id is not None:
        query = query.where(LEDGER.c.project_id == project_id)
    return conn.execute(query).all()


def ledger_savings(
    conn: Connection, first: datetime, end: datetime, project_id: str | None = None
) -> Savings:
    """The savings of billed calls that started in [first, end), of one project or all."""
    lines: dict[tuple[str, Lever, str], Sums] = defaultdict(Sums)
    result = Savings()
    for row in _grouped(conn, first, end, project_id):
        project, currency, hit, reason, compacted, saving, batched, count, cost, saved, tokens = row
        sums = Sums(
            int(count), int(count) if hit else 0, int(cost or 0), int(saved or 0), int(tokens or 0)
        )
        result.totals.setdefault(currency, Sums()).add(sums)
        lever = lever_of(bool(hit), reason, bool(compacted), bool(saving), bool(batched))
        if lever is not None:
            lines[(project, lever, currency)].add(sums)
    names = dict(conn.execute(select(PROJECTS.c.id, PROJECTS.c.name)).all()) if lines else {}
    order = list(Lever)
    for (project, lever, currency), sums in sorted(
        lines.items(), key=lambda item: (names.get(item[0][0], ""), order.index(item[0][1]))
    ):
        result.lines.append(LeverLine(project, names.get(project, ""), lever, currency, sums))
    return result


def savings_report(
    engine: Engine, first: datetime, end: datetime, project_id: str | None = None
) -> Savings:
    with read_transaction(engine) as conn:
        if project_id is not None:
            found = conn.execute(select(PROJECTS.c.id).where(PROJECTS.c.id == project_id)).first()
            if found is None:
                raise LookupError(project_id)
        return ledger_savings(conn, first, end, project_id)
