"""The price catalogue in memory (catalogue.py): Authorize and Settle price from it, and
a price added by anyone (another replica, the admin API) applies from its effective
time, never a stale one."""

from __future__ import annotations

import random
from datetime import timedelta

from services.budget.catalogue import current_catalogue
from services.budget.prices import PriceInput, current_prices, price_at, set_price
from services.budget.reservations import Usage
from tests.budget.price_world import setup
from tollgate.db import make_engine, utcnow
from tollgate.money import from_nano


def test_a_price_another_process_adds_applies_from_the_next_call(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="1000")
    now = utcnow()
    with ledger.engine.begin() as conn:
        set_price(conn, PriceInput("m", "1", "2", None, "USD"), effective_from=now)
    first = ledger.settle("a", project, key, "m", Usage(1_000_000, 0), utcnow())
    held = ledger.authorize("b", project, key, "m", 1_000_000, 1)
    other = make_engine(db_url)  # e.g. an operator's change through another replica
    with other.begin() as conn:
        set_price(conn, PriceInput("m", "3", "6", None, "USD"))
        later = utcnow() + timedelta(hours=1)
        set_price(conn, PriceInput("m", "5", "10", None, "USD"), effective_from=later)
    second = ledger.settle("c", project, key, "m", Usage(1_000_000, 0), utcnow())
    again = ledger.authorize("d", project, key, "m", 1_000_000, 1)
    future = ledger.settle("e", project, key, "m", Usage(1_000_000, 0), later)
    assert [from_nano(s.cost_nano) for s in (first, second, future)] == [1, 3, 5]
    assert (held.reserved_nano, again.reserved_nano) == (1_000_002_000, 3_000_006_000)
    other.dispose()
    ledger.engine.dispose()


def test_the_catalogue_answers_as_price_at_does(db_url: str) -> None:
    ledger, _, _ = setup(db_url)
    rng = random.Random(7)
    t0 = utcnow() - timedelta(hours=10)
    with ledger.engine.begin() as conn:
        for n in range(30):  # several versions at one instant: the last added wins
            at = t0 + timedelta(hours=rng.randrange(8))
            price = PriceInput(f"m{n % 3}", str(n + 1), "1", None, "USD")
            set_price(conn, price, effective_from=at)
    with ledger.engine.connect() as conn:
        prices = current_catalogue(conn)
        assert prices.current(utcnow()) == current_prices(conn)
        for model in ("m0", "m1", "m2", "gpt-4o", "none"):
            for hours in range(-1, 11):
                at = t0 + timedelta(hours=hours, minutes=rng.choice([0, 30]))
                assert prices.at(model, at) == price_at(conn, model, at), (model, at)
    ledger.engine.dispose()
