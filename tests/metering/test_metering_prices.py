"""Metering prices each call through Budget: the ledger row's cost is the exact formula
over its own token counts (cache reads, cache writes, reasoning, the project's price
multiplier and currency), rounded once; on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select

from services.budget.admin import operations as admin
from services.budget.prices import PriceInput, set_price
from tests.metering.services import Services, record
from tollgate.db.models import LEDGER, ROLLUPS
from tollgate.v1 import common_pb2


def test_the_ledger_cost_is_the_formula_over_the_rows_tokens(services: Services) -> None:
    s = services
    engine = s.engine
    with engine.begin() as conn:  # type: ignore[attr-defined]
        set_price(conn, PriceInput("claude-x", "3.3", "16.5", "0.33", "USD", 8192, "4.125"))
    admin.set_price_multiplier(engine, "acme", "1.15")  # type: ignore[arg-type]
    usage = common_pb2.Usage(
        prompt_tokens=1234 + 45_678 + 9_012,  # plain + cache reads + cache writes
        completion_tokens=3_456,
        cached_tokens=45_678,
        cache_write_tokens=9_012,
        reasoning_tokens=1_000,  # part of completion_tokens: billed as output, once
    )
    reply = record(s, "cw", 0, 0, usage=usage, model_served="claude-x")
    with engine.connect() as conn:  # type: ignore[attr-defined]
        row = conn.execute(select(LEDGER).where(LEDGER.c.request_id == "cw")).one()
        rollup = conn.execute(select(ROLLUPS.c.cache_write_tokens)).scalar_one()
    assert (row.cache_write_tokens, row.cached_tokens, row.reasoning_tokens) == (9012, 45678, 1000)
    assert rollup == 9012
    plain = row.prompt_tokens - row.cached_tokens - row.cache_write_tokens
    usd_per_million = (
        plain * Fraction("3.3")
        + row.cached_tokens * Fraction("0.33")
        + row.cache_write_tokens * Fraction("4.125")
        + row.completion_tokens * Fraction("16.5")
    )
    exact_nano_cny = usd_per_million / 10**6 * Fraction("7.2") * Fraction("1.15") * 10**9
    assert row.currency == "CNY"
    assert row.cost_nano == int(exact_nano_cny + Fraction(1, 2))  # half up, once
    assert Decimal(reply.cost.amount) * 10**9 == row.cost_nano
