"""percent_used: spend over limit as an exact percent, truncated to two decimals."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.money import format_amount
from tollgate.reports.budget_use import budget_use_json, percent_used
from tollgate.v1 import budget_pb2


@pytest.mark.parametrize(
    ("spent", "limit", "shown"),
    [
        ("400", "500", "80.00"),
        ("0", "500", "0.00"),
        ("500", "500", "100.00"),
        ("499.999999999", "500", "99.99"),  # never rounded up to 100
        ("1", "3", "33.33"),
        ("2", "3", "66.66"),
        ("750", "500", "150.00"),  # a soft budget past its limit
        ("0.000000001", "0.000000003", "33.33"),
        ("999999999.999999999", "0.000000001", "99999999999999999900.00"),
        ("5", "", None),  # no limit
        ("5", "0", None),
        ("x", "5", None),
    ],
)
def test_percent_used(spent: str, limit: str, shown: str | None) -> None:
    assert percent_used(spent, limit) == shown


@given(st.integers(0, 10**18 - 1), st.integers(1, 10**18 - 1))
def test_percent_used_is_the_exact_percent_truncated(spent: int, limit: int) -> None:
    shown = percent_used(format_amount(spent), format_amount(limit))
    assert shown is not None
    exact = Fraction(spent * 100, limit)
    value = Fraction(shown)
    assert value <= exact < value + Fraction(1, 100)
    assert len(shown.split(".")[1]) == 2


def test_a_budget_line_shows_its_period_limit_and_use() -> None:
    info = budget_pb2.BudgetInfo(
        project="p",
        owner="key",
        key_id="key_1",
        key_name="laptop",
        period="daily",
        period_key="2026-12-02",
        hard=True,
        currency="CNY",
        amount="3",
        spent="2.25",
        resets="2026-12-03 00:00 UTC",
    )
    assert budget_use_json(info) == {
        "owner": "key",
        "key_id": "key_1",
        "key_name": "laptop",
        "period": "daily",
        "period_key": "2026-12-02",
        "hard": True,
        "currency": "CNY",
        "limit": "3",
        "spent": "2.25",
        "percent_used": "75.00",
        "resets": "2026-12-03 00:00 UTC",
    }
