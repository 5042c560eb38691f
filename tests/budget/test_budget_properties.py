"""Property: whatever sequence of reservations, settlements and releases arrives,
committed plus held spend never passes the hard limit, and committed spend is the
exact sum of the settled costs (invariants 1 and 3)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.budget.prices import seed_prices
from services.budget.reservations import Decision, Ledger, Usage
from tollgate import admin
from tollgate.config import load_settings
from tollgate.db import make_engine, upgrade, utcnow
from tollgate.db.models import RESERVATIONS

# (kind, call number, prompt tokens, max tokens, share of max tokens generated)
Op = tuple[str, int, int, int, float]
ops = st.lists(
    st.tuples(
        st.sampled_from(["authorize", "settle", "release", "settle-again"]),
        st.integers(0, 15),
        st.integers(1, 5000),
        st.integers(1, 5000),
        st.floats(0, 1),
    ),
    max_size=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops, budget=st.integers(1, 2_000_000))
def test_any_sequence_keeps_the_limit_and_exact_sums(
    tmp_path_factory, ops: list[Op], budget: int
) -> None:  # type: ignore[no-untyped-def]
    home: Path = tmp_path_factory.mktemp("prop")
    url = f"sqlite:///{home / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": str(home)}))
    limit = Decimal(budget) / 10**6  # up to CNY 2
    project = admin.create_project(engine, "p", monthly_budget=limit)
    key = admin.create_key(engine, "p").info.id
    ledger = Ledger(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600)
    held: dict[str, tuple[int, int]] = {}  # open reservations: (prompt, max tokens)
    costs: dict[str, int] = {}  # settled calls
    finished: set[str] = set()  # settled or released: the id may not be authorized again
    for kind, n, prompt, max_tokens, share in ops:
        request_id = f"r{n}"
        if kind == "authorize":
            if request_id in finished:
                with pytest.raises(ValueError):
                    ledger.authorize(request_id, project.id, key, "demo", prompt, max_tokens)
                continue
            result = ledger.authorize(request_id, project.id, key, "demo", prompt, max_tokens)
            if result.decision is Decision.ALLOWED:
                held.setdefault(request_id, (prompt, max_tokens))
        elif kind == "release":
            assert ledger.release(request_id) == (request_id in held)
            if held.pop(request_id, None) is not None:
                finished.add(request_id)
        elif request_id in held or (kind == "settle-again" and request_id in costs):
            prompt, max_tokens = held.pop(request_id, (0, 0))
            usage = Usage(prompt, int(max_tokens * share))  # never more than reserved
            settled = ledger.settle(request_id, project.id, key, "demo", usage, utcnow())
            costs.setdefault(request_id, settled.cost_nano)
            assert settled.cost_nano == costs[request_id]  # idempotent
            finished.add(request_id)
        status = ledger.status(project.id)
        assert status.committed_nano + status.reserved_nano <= status.limit_nano
        assert status.committed_nano == sum(costs.values())
        with engine.connect() as conn:
            open_holds = (
                conn.execute(
                    select(RESERVATIONS.c.amount_nano).where(RESERVATIONS.c.state == "open")
                )
                .scalars()
                .all()
            )
        assert status.reserved_nano == sum(open_holds)
    engine.dispose()
