"""What a crash drill checks once its load is done: that delivery settled, that every
hold was released, that a hard budget was never passed while it ran, and what the
upstream served against what the ledger billed (`DrillReport`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.e2e.suite import Suite
from tollgate.db.models import BUDGET_COUNTERS, BUDGETS, LEDGER, RESERVATIONS
from tollgate.money import from_nano

# The drills' TOLLGATE_RESERVATION_TTL_SECONDS (drills.DRILL_ENV): short, so a hold
# that outlives it is seen within the drill.
RESERVATION_TTL_SECONDS = 15
BUDGET_SWEEP_SECONDS = 5  # how often Budget releases expired reservations
SETTLE_TIMEOUT_SECONDS = 45  # the router's spool sweep alone waits 10 s for stale files
QUIET_SECONDS = 2.0  # the ledger holds still this long, with the spool empty: settled


def ledger_rows(suite: Suite, project_ids: list[str]) -> list[Any]:
    with suite.engine.connect() as conn:
        return list(conn.execute(select(LEDGER).where(LEDGER.c.project_id.in_(project_ids))))


def spool_files(spool: Path) -> list[str]:
    """Records (and open calls) the routers have not delivered yet."""
    try:
        return [name for name in os.listdir(spool) if not name.startswith(".")]
    except FileNotFoundError:
        return []


def wait_settled(suite: Suite, spool: Path, project_ids: list[str]) -> float:
    """Wait until delivery is done: the spool holds nothing (bar records set aside
    as `.bad`) and the ledger has not changed for QUIET_SECONDS. Seconds waited."""
    begun = time.monotonic()
    last, since = -1, time.monotonic()
    while time.monotonic() - begun < SETTLE_TIMEOUT_SECONDS:
        count = len(ledger_rows(suite, project_ids))
        if count != last:
            last, since = count, time.monotonic()
        pending = [name for name in spool_files(spool) if not name.endswith(".bad")]
        if not pending and time.monotonic() - since >= QUIET_SECONDS:
            break
        time.sleep(0.25)
    return time.monotonic() - begun


def open_holds(suite: Suite, project_ids: list[str]) -> tuple[int, int]:
    """Open reservations of the projects, and the amount their counters hold."""
    with suite.engine.connect() as conn:
        reservations = conn.execute(
            select(RESERVATIONS.c.request_id).where(
                RESERVATIONS.c.project_id.in_(project_ids),
                RESERVATIONS.c.state == "open",
            )
        ).all()
        held = conn.execute(
            select(BUDGET_COUNTERS.c.reserved_nano)
            .join(BUDGETS, BUDGETS.c.id == BUDGET_COUNTERS.c.budget_id)
            .where(BUDGETS.c.project_id.in_(project_ids))
        ).scalars()
        return len(reservations), sum(held)


def wait_released(suite: Suite, project_ids: list[str], load_ended: float) -> tuple[int, int]:
    """Wait, up to the TTL after the load's end plus a sweep, for every hold to go;
    the open reservations and the amount still held then."""
    deadline = load_ended + RESERVATION_TTL_SECONDS + BUDGET_SWEEP_SECONDS + 5
    while (holds := open_holds(suite, project_ids)) != (
        0,
        0,
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    return holds


class BudgetWatch:
    """Samples a project's hard budget counters while it runs: committed + reserved
    must never pass the limit. `over` keeps every sample that did."""

    def __init__(self, suite: Suite, project_id: str) -> None:
        self.suite, self.project_id = suite, project_id
        self.over: list[tuple[int, int, int]] = []  # (committed, reserved, limit)
        self.samples = 0
        self.peak_nano = 0  # the most committed + reserved seen
        self.limit_nano = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> BudgetWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        return (
            f"hard budget {from_nano(self.limit_nano)}: peak committed + reserved"
            f" {from_nano(self.peak_nano)} over {self.samples} samples,"
            f" {len(self.over)} samples over the limit"
        )

    def _watch(self) -> None:
        query = (
            select(
                BUDGETS.c.amount_nano,
                BUDGET_COUNTERS.c.committed_nano,
                BUDGET_COUNTERS.c.reserved_nano,
            )
            .join(BUDGETS, BUDGETS.c.id == BUDGET_COUNTERS.c.budget_id)
            .where(BUDGETS.c.project_id == self.project_id, BUDGETS.c.hard.is_(True))
        )
        while not self._stop.wait(0.1):
            with self.suite.engine.connect() as conn:
                for row in conn.execute(query):
                    self.samples += 1
                    self.limit_nano = row.amount_nano
                    self.peak_nano = max(self.peak_nano, row.committed_nano + row.reserved_nano)
                    if row.committed_nano + row.reserved_nano > row.amount_nano:
                        self.over.append((row.committed_nano, row.reserved_nano, row.amount_nano))


@dataclass
class DrillReport:
    """What the upstream served against what was billed, for one drill."""

    name: str
    sent: int
    outcomes: dict[str, str]  # tag -> what the client saw: "ok", "<status> <code>" or the error
    received_upstream: int
    served: list[dict[str, Any]]
    rows: list[Any]
    bill_totals: dict[str, tuple[Decimal, Decimal]]  # project id -> bill and /v1/usage totals
    budget_spent: dict[str, Decimal]  # project id -> Budget's committed spend this month
    holds_left: tuple[int, int] = (0, 0)
    settle_seconds: float = 0.0  # from the load's end until the ledger held still
    release_seconds: float = 0.0  # from the load's end until no reservation was open

    @property
    def client_ok(self) -> int:
        return sum(outcome == "ok" for outcome in self.outcomes.values())

    @property
    def ledger_by_tag(self) -> Counter[str]:
        return Counter(row.end_user for row in self.rows)

    @property
    def lost(self) -> list[str]:
        """Served by the upstream, yet in no ledger row."""
        billed = self.ledger_by_tag
        return sorted(call["user"] for call in self.served if not billed[call["user"]])

    @property
    def duplicated(self) -> list[str]:
        ids = Counter(row.request_id for row in self.rows)
        return sorted(
            {tag for tag, n in self.ledger_by_tag.items() if n > 1}
            | {rid for rid, n in ids.items() if n > 1}
        )

    @property
    def token_mismatches(self) -> list[str]:
        """Calls the upstream finished and reported usage for, billed with other counts."""
        rows = {row.end_user: row for row in self.rows}
        wrong = []
        for call in self.served:
            row = rows.get(call["user"])
            if row is None or not call["finished"] or row.usage_source != "provider":
                continue
            if (row.prompt_tokens, row.completion_tokens) != (
                call["prompt_tokens"],
                call["completion_tokens"],
            ):
                wrong.append(
                    f"{call['user']}: upstream {call['prompt_tokens']}+{call['completion_tokens']}"
                    f", ledger {row.prompt_tokens}+{row.completion_tokens}"
                )
        return wrong

    def ledger_total(self, project_id: str) -> Decimal:
        return from_nano(sum(row.cost_nano for row in self.rows if row.project_id == project_id))

    def summary(self) -> str:
        upstream_tokens = sum(c["prompt_tokens"] + c["completion_tokens"] for c in self.served)
        ledger_tokens = sum(row.prompt_tokens + row.completion_tokens for row in self.rows)
        statuses = Counter(row.status for row in self.rows)
        return (
            f"drill {self.name}: sent {self.sent} (client saw {self.client_ok} ok,"
            f" {self.sent - self.client_ok} fail), upstream received {self.received_upstream}"
            f" served {len(self.served)} ({sum(c['finished'] for c in self.served)} finished),"
            f" ledger rows {len(self.rows)} {dict(statuses)}, lost {len(self.lost)},"
            f" duplicated {len(self.duplicated)}; tokens upstream {upstream_tokens}"
            f" ledger {ledger_tokens}; holds left {self.holds_left[0]} reservations"
            f" {from_nano(self.holds_left[1])}; ledger settled {self.settle_seconds:.1f}s and"
            f" holds released {self.release_seconds:.1f}s after the load"
            + (f"; lost tags {self.lost[:10]}" if self.lost else "")
            + f"; client errors {Counter(self.errors).most_common(3)}"
        )

    @property
    def errors(self) -> list[str]:
        return [outcome for outcome in self.outcomes.values() if outcome != "ok"]
