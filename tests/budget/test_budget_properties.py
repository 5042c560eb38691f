"""Property: whatever sequence of reservations, settlements, releases, expiries and
clock moves arrives, over several budgets at once (the project's daily and monthly
hard budgets, a key's lifetime hard budget and a soft one), committed plus held spend
never passes any hard limit, and every counter is the exact sum of the settled costs
and open holds that belong to it (invariants 1 and 3)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.periods import period_key
from services.budget.prices import seed_prices
from services.budget.reservations import Decision, ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import make_engine, upgrade
from tollgate.db.models import BUDGET_COUNTERS, BUDGETS, HOLDS, RESERVATIONS

T0 = datetime(2027, 1, 30, 20, 0, tzinfo=UTC)  # near a day's and a month's end

# (kind, which earlier call, key number, prompt tokens, max tokens, share generated, hours)
Op = tuple[str, int, int, int, int, float, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["authorize"] * 3 + ["authorize-again", "settle", "release", "settle-again", "tick"]
        ),
        st.integers(0, 11),
        st.integers(0, 1),
        st.integers(100, 5000),
        st.integers(100, 5000),
        st.floats(0, 1),
        st.integers(1, 30),
    ),
    min_size=4,
    max_size=40,
)
# CNY 0.05 to 1.5 in millionths: from "nothing fits" to "a few calls fit" (a call may
# hold up to CNY 0.63).
micro = st.integers(50_000, 1_500_000)


@dataclass
class Call:
    key: str
    started: datetime
    amount: int
    prompt: int
    max_tokens: int


def expected_counters(
    rules: list, calls: dict[str, Call], costs: dict[str, int], zone: ZoneInfo
) -> tuple[dict, dict]:
    committed: dict[tuple[int, str], int] = defaultdict(int)
    reserved: dict[tuple[int, str], int] = defaultdict(int)
    for rid, call in calls.items():
        for rule in rules:
            if rule.key_id not in (None, call.key):
                continue
            counter = (rule.id, period_key(rule.period, call.started, zone))
            if rid in costs:
                committed[counter] += costs[rid]
            elif rule.hard:
                reserved[counter] += call.amount
    return committed, reserved


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=ops,
    limits=st.tuples(micro, micro, micro, micro),
    zone_name=st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"]),
)
def test_any_sequence_keeps_every_hard_limit_and_exact_sums(
    tmp_path_factory, ops: list[Op], limits: tuple[int, ...], zone_name: str
) -> None:  # type: ignore[no-untyped-def]
    home: Path = tmp_path_factory.mktemp("prop")
    url = f"sqlite:///{home / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    zone = ZoneInfo(zone_name)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": str(home)}))
    monthly, daily, lifetime, soft = (Decimal(n) / 10**6 for n in limits)
    project = admin.create_project(engine, "p", monthly_budget=monthly, zone=zone).id
    keys = [admin.create_key(engine, "p").info.id for _ in range(2)]
    budgets.set_budget(engine, "p", period="daily", amount=daily, zone=zone)
    budgets.set_budget(engine, "p", key_id=keys[0], period="total", amount=lifetime, zone=zone)
    budgets.set_budget(engine, "p", key_id=keys[1], period="monthly", amount=soft, hard=False)
    with engine.connect() as conn:
        rules = [budgets_rule for budgets_rule in _rules(conn)]
    ledger = ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600, zone=zone)
    clock = T0
    calls: dict[str, Call] = {}  # every call that was allowed
    held: set[str] = set()  # open reservations
    costs: dict[str, int] = {}  # settled calls
    finished: set[str] = set()  # settled, released or expired
    tried: list[str] = []  # every request id authorized so far
    for i, (kind, n, k, prompt, max_tokens, share, hours) in enumerate(ops):
        key = keys[k]
        # A new call, or (repeats and the other kinds) one seen before, chosen by n.
        rid = f"r{i}" if kind == "authorize" or not tried else tried[n % len(tried)]
        if kind == "tick":
            clock += timedelta(hours=hours)
            if hours > 24:  # long enough for the sweeper: every open reservation expires
                assert ledger.expire(clock) == len(held)
                for gone in held:
                    del calls[gone]
                finished |= held
                held = set()
        elif kind in ("authorize", "authorize-again"):
            if rid in finished:
                with pytest.raises(ValueError):
                    ledger.authorize(rid, project, key, "demo", prompt, max_tokens, now=clock)
                continue
            tried.append(rid)
            result = ledger.authorize(rid, project, key, "demo", prompt, max_tokens, now=clock)
            if result.decision is Decision.ALLOWED and rid not in calls:
                calls[rid] = Call(key, clock, result.reserved_nano, prompt, max_tokens)
                held.add(rid)
        elif kind == "release":
            assert ledger.release(rid) == (rid in held)
            if rid in held:
                held.discard(rid)
                del calls[rid]
                finished.add(rid)
        elif rid in held or (kind == "settle-again" and rid in costs):
            call = calls[rid]
            usage = Usage(call.prompt, int(call.max_tokens * share))  # never more than held
            settled = ledger.settle(rid, project, call.key, "demo", usage, clock)
            costs.setdefault(rid, settled.cost_nano)
            assert settled.cost_nano == costs[rid]  # idempotent
            held.discard(rid)
            finished.add(rid)
        _check(engine, rules, calls, costs, zone)
    engine.dispose()


def _rules(conn):  # type: ignore[no-untyped-def]
    from services.budget.budgets import rule_of

    return [rule_of(row) for row in conn.execute(select(BUDGETS))]


def _check(engine, rules, calls, costs, zone) -> None:  # type: ignore[no-untyped-def]
    committed, reserved = expected_counters(rules, calls, costs, zone)
    limits = {rule.id: rule for rule in rules}
    with engine.connect() as conn:
        rows = conn.execute(select(BUDGET_COUNTERS)).all()
        open_amounts = conn.execute(
            select(RESERVATIONS.c.amount_nano).where(RESERVATIONS.c.state == "open")
        ).scalars()
        holds = conn.execute(select(HOLDS)).all()
        assert sum(open_amounts) == sum(c.amount for rid, c in calls.items() if rid not in costs)
    seen = set()
    for row in rows:
        counter = (row.budget_id, row.period_key)
        seen.add(counter)
        assert row.committed_nano == committed.get(counter, 0)
        assert row.reserved_nano == reserved.get(counter, 0)
        assert row.reserved_nano == sum(
            h.amount_nano for h in holds if (h.budget_id, h.period_key) == counter
        )
        rule = limits[row.budget_id]
        if rule.hard:
            assert row.committed_nano + row.reserved_nano <= rule.amount_nano
    assert {c for c, v in {**committed, **reserved}.items() if v} <= seen
