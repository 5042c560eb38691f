"""Budget's Prometheus metrics: Authorize's decisions, and at each scrape what every
project's budgets have left and what open reservations hold.

The gauges are read from the database when Prometheus scrapes (one read transaction,
off the request path), so every Budget replica reports the same shared state: sum
nothing across replicas; take any one (`max by (project, period)`). Labels: project
ids, the budget's period and owner (project or key; key budgets are summed per
project, so no key id becomes a label), currency. Served on Budget's metrics listener
(TOLLGATE_BUDGET_METRICS_LISTEN).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from services.budget.periods import period_key
from services.budget.reservation_state import ReservationState
from tollgate.db.models import BUDGET_COUNTERS, BUDGETS, PROJECTS, RESERVATIONS
from tollgate.money import NANO_PER_UNIT

log = logging.getLogger(__name__)

AUTHORIZATIONS = Counter(
    "tollgate_budget_authorizations",
    "Authorize decisions: allowed, downgraded, budget_exceeded, key_revoked, key_paused, "
    "model_not_priced.",
    ["decision"],
)


def _units(nano: int) -> float:
    return nano / NANO_PER_UNIT


class BudgetCollector(Collector):
    """Budgets left and reservations held, read at each scrape."""

    def __init__(self, engine: Engine, zone: ZoneInfo) -> None:
        self.engine = engine
        self.zone = zone

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            remaining, limits, holds = self._read(datetime.now(UTC))
        except Exception:  # a scrape must not fail with the database
            log.exception("reading budgets for /metrics failed")
            return
        left = GaugeMetricFamily(
            "tollgate_budget_remaining",
            "What a budget has left this period (limit less spend and holds), in its "
            "currency; key budgets summed per project.",
            labels=["project", "period", "owner", "currency"],
        )
        limit = GaugeMetricFamily(
            "tollgate_budget_limit",
            "A budget's limit for its period, in its currency; key budgets summed per project.",
            labels=["project", "period", "owner", "currency"],
        )
        for labels, nano in sorted(remaining.items()):
            left.add_metric(list(labels), _units(nano))
            limit.add_metric(list(labels), _units(limits[labels]))
        held = GaugeMetricFamily(
            "tollgate_reservations_held",
            "Open reservations (calls authorized, not yet settled), per project.",
            labels=["project"],
        )
        amount = GaugeMetricFamily(
            "tollgate_reservations_held_amount",
            "What open reservations hold, per project, in its currency.",
            labels=["project", "currency"],
        )
        for (project, currency), (count, nano) in sorted(holds.items()):
            held.add_metric([project], count)
            amount.add_metric([project, currency], _units(nano))
        yield from (left, limit, held, amount)

    def _read(
        self, now: datetime
    ) -> tuple[
        dict[tuple[str, str, str, str], int],
        dict[tuple[str, str, str, str], int],
        dict[tuple[str, str], tuple[int, int]],
    ]:
        remaining: dict[tuple[str, str, str, str], int] = defaultdict(int)
        limits: dict[tuple[str, str, str, str], int] = defaultdict(int)
        with self.engine.connect() as conn:
            rules = conn.execute(
                select(
                    BUDGETS.c.id,
                    BUDGETS.c.project_id,
                    BUDGETS.c.key_id,
                    BUDGETS.c.period,
                    BUDGETS.c.amount_nano,
                    PROJECTS.c.currency,
                ).join(PROJECTS, PROJECTS.c.id == BUDGETS.c.project_id)
            ).all()
            keys = {rule.id: period_key(rule.period, now, self.zone) for rule in rules}
            counters = {
                (row.budget_id, row.period_key): row.committed_nano + row.reserved_nano
                for row in conn.execute(
                    select(
                        BUDGET_COUNTERS.c.budget_id,
                        BUDGET_COUNTERS.c.period_key,
                        BUDGET_COUNTERS.c.committed_nano,
                        BUDGET_COUNTERS.c.reserved_nano,
                    ).where(BUDGET_COUNTERS.c.period_key.in_(set(keys.values()) or {""}))
                )
            }
            projects = conn.execute(select(PROJECTS.c.id, PROJECTS.c.currency)).all()
            open_holds = conn.execute(
                select(
                    RESERVATIONS.c.project_id,
                    RESERVATIONS.c.currency,
                    func.count(),
                    func.coalesce(func.sum(RESERVATIONS.c.amount_nano), 0),
                )
                .where(RESERVATIONS.c.state == ReservationState.OPEN.value)
                .group_by(RESERVATIONS.c.project_id, RESERVATIONS.c.currency)
            ).all()
        for rule in rules:
            owner = "project" if rule.key_id is None else "key"
            labels = (rule.project_id, rule.period, owner, rule.currency)
            used = counters.get((rule.id, keys[rule.id]), 0)
            remaining[labels] += max(rule.amount_nano - used, 0)
            limits[labels] += rule.amount_nano
        holds = {(p, c): (0, 0) for p, c in projects}  # every project, none held
        holds |= {(p, c): (int(n), int(s)) for p, c, n, s in open_holds}
        return remaining, limits, holds


_collector: BudgetCollector | None = None


def watch_budgets(engine: Engine, zone: ZoneInfo) -> None:
    """Report `engine`'s budgets and reservations at each scrape (once per process)."""
    global _collector
    if _collector is None:
        _collector = BudgetCollector(engine, zone)
        REGISTRY.register(_collector)
    else:
        _collector.engine, _collector.zone = engine, zone
