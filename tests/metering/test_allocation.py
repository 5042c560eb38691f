"""Cost allocation: shares sum exactly to the total, each is within one smallest unit
of its exact proportion, and the split is deterministic (largest remainder, ties by
project name)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.metering.allocation import allocate, split
from services.metering.ledger import UsageLedger
from tests.metering.ledger_rows import entry, make_project
from tollgate.db import make_engine
from tollgate.db.models import PROJECTS
from tollgate.money import to_nano

names = st.text(alphabet="abcdefghij", min_size=1, max_size=4)
weights = st.dictionaries(names, st.integers(0, 10**15), min_size=1, max_size=8).filter(
    lambda w: sum(w.values()) > 0
)


@given(total=st.integers(0, 10**11), weights=weights)
def test_shares_sum_to_the_total_each_within_one_unit(total: int, weights: dict[str, int]) -> None:
    shares = split(total, weights)
    assert sum(shares.values()) == total
    whole = sum(weights.values())
    for name, weight in weights.items():
        exact = Fraction(total * weight, whole)
        assert abs(shares[name] - exact) < 1
        assert shares[name] >= 0
    # The same input in any order gives the same split.
    assert split(total, dict(reversed(list(weights.items())))) == shares


@given(total=st.integers(0, 10**6), weights=weights)
def test_leftover_units_go_to_the_largest_remainders(total: int, weights: dict[str, int]) -> None:
    shares = split(total, weights)
    whole = sum(weights.values())
    remainder = {n: Fraction(total * w, whole) % 1 for n, w in weights.items()}
    raised = [n for n in weights if shares[n] > Fraction(total * weights[n], whole)]
    kept = [n for n in weights if n not in raised and remainder[n]]
    for up in raised:
        for down in kept:  # every project rounded up beat every one rounded down
            assert (remainder[up], down) > (remainder[down], up)


def test_known_splits() -> None:
    # 1234.56 in three equal parts: 411.52 each, exactly.
    assert split(123456, {"a": 1, "b": 1, "c": 1}) == {"a": 41152, "b": 41152, "c": 41152}
    # 1.00 in three equal parts: the one leftover cent goes to the first name.
    assert split(100, {"c": 5, "b": 5, "a": 5}) == {"a": 34, "b": 33, "c": 33}
    # 10.00 by 1:2 -> 3.33(33..) and 6.66(66..): the larger remainder (b's) gets the cent.
    assert split(1000, {"a": 1, "b": 2}) == {"a": 333, "b": 667}
    assert split(500, {"a": 0, "b": 3}) == {"a": 0, "b": 500}
    with pytest.raises(ValueError, match="nothing was metered"):
        split(100, {"a": 0})


def test_allocate_reads_metered_cost_over_the_range(db_url: str) -> None:
    engine = make_engine(db_url)
    for pid, name in (("p1", "web"), ("p2", "batch"), ("p3", "idle")):
        make_project(engine, pid, name, datetime(2026, 1, 1, tzinfo=UTC))
    ledger = UsageLedger(engine)
    ledger.add(entry("a", datetime(2026, 11, 2, tzinfo=UTC), to_nano("1"), project_id="p1"))
    ledger.add(entry("b", datetime(2026, 11, 3, tzinfo=UTC), to_nano("2"), project_id="p2"))
    ledger.add(entry("c", datetime(2026, 12, 1, tzinfo=UTC), to_nano("99"), project_id="p1"))
    result = allocate(engine, "1234.56", "cny", date(2026, 11, 1), date(2026, 11, 30))
    shares = {s.project: (s.metered_nano, s.share) for s in result.shares}
    # 1234.56 x 1/3 = 411.52 and x 2/3 = 823.04; idle gets nothing.
    assert shares == {
        "batch": (to_nano("2"), Decimal("823.04")),
        "idle": (0, Decimal("0.00")),
        "web": (to_nano("1"), Decimal("411.52")),
    }
    assert sum(s.share for s in result.shares) == Decimal("1234.56")
    only = allocate(engine, "10", "USD", date(2026, 11, 1), date(2026, 12, 31), ["web", "idle"])
    assert [(s.project, s.share) for s in only.shares] == [
        ("idle", Decimal("0.00")),
        ("web", Decimal("10.00")),
    ]
    with pytest.raises(ValueError, match="finer than 0.01"):
        allocate(engine, "1.005", "CNY", date(2026, 11, 1), date(2026, 11, 30))
    with pytest.raises(ValueError, match="no project named nobody"):
        allocate(engine, "1", "CNY", date(2026, 11, 1), date(2026, 11, 30), ["nobody"])
    with pytest.raises(ValueError, match="nothing was metered"):
        allocate(engine, "1", "CNY", date(2026, 10, 1), date(2026, 10, 31))
    with engine.begin() as conn:
        conn.execute(PROJECTS.update().where(PROJECTS.c.id == "p3").values(currency="USD"))
    with pytest.raises(ValueError, match="different currencies"):
        allocate(engine, "1", "CNY", date(2026, 11, 1), date(2026, 11, 30))
    engine.dispose()
