"""The price catalogue on SQLite and PostgreSQL: versions (a call is billed at the price
in force when it started; a new price never changes an old bill), cache-write prices,
per-project multipliers, and the shipped defaults."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from services.budget.admin import operations as admin
from services.budget.prices import (
    PriceInput,
    default_prices,
    price_at,
    seed_prices,
    set_price,
)
from services.budget.reservations import Usage
from tests.budget.price_world import RATE, SETTINGS, setup
from tollgate.db import make_engine, utcnow
from tollgate.db.models import PRICES, RESERVATIONS
from tollgate.money import from_nano, to_nano


def test_a_call_is_billed_at_the_version_in_force_when_it_started(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    t0 = utcnow() - timedelta(hours=3)
    with ledger.engine.begin() as conn:
        set_price(conn, PriceInput("m", "1", "2", None, "USD"), effective_from=t0)
        set_price(
            conn, PriceInput("m", "10", "20", None, "USD"), effective_from=t0 + timedelta(hours=1)
        )
        set_price(
            conn, PriceInput("m", "100", "200", None, "USD"), effective_from=t0 + timedelta(hours=2)
        )
    started = [t0 + timedelta(minutes=m) for m in (30, 90, 150)]
    costs = [
        ledger.settle(f"r{i}", project, key, "m", Usage(1_000_000, 0), at).cost_nano
        for i, at in enumerate(started)
    ]
    assert [from_nano(c) for c in costs] == [1, 10, 100]
    # Before its first version a model has no price; at the exact instant, the new one.
    with ledger.engine.connect() as conn:
        assert price_at(conn, "m", t0 - timedelta(seconds=1)) is None
        at_change = price_at(conn, "m", t0 + timedelta(hours=1))
    assert at_change is not None and at_change.input_nano == to_nano("10")


def test_a_new_price_never_changes_an_old_bill(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="1000")
    ledger.authorize("old", project, key, "claude-sonnet-4-5", 1000, 100)
    old = ledger.settle("old", project, key, "claude-sonnet-4-5", Usage(1000, 100), utcnow())
    with ledger.engine.begin() as conn:
        set_price(conn, PriceInput("claude-sonnet-4-5", "30", "150", "3", "USD", None, "37.5"))
    # Settling again (a redelivery) and reading the reservation both keep the old cost.
    again = ledger.settle("old", project, key, "claude-sonnet-4-5", Usage(1000, 100), utcnow())
    assert again.already_settled and again.cost_nano == old.cost_nano == 4_500_000
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(RESERVATIONS.c.cost_nano).where(RESERVATIONS.c.request_id == "old")
        ).scalar_one()
    assert stored == old.cost_nano
    new = ledger.settle("new", project, key, "claude-sonnet-4-5", Usage(1000, 100), utcnow())
    assert new.cost_nano == 10 * old.cost_nano
    assert ledger.status(project).committed_nano == 11 * old.cost_nano


def test_settlement_prices_cache_reads_and_writes_exactly(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    # claude-sonnet-4-5 ships at 3 / 15, cache reads 0.3, cache writes 3.75 USD per million.
    usage = Usage(
        prompt_tokens=1200 + 30_000 + 5000,
        completion_tokens=700,
        cached_tokens=30_000,
        cache_write_tokens=5000,
    )
    cost = ledger.settle("r", project, key, "claude-sonnet-4-5", usage, utcnow()).cost_nano
    expected = 1200 * 3 + Decimal(30_000) * Decimal("0.3") + 5000 * Decimal("3.75") + 700 * 15
    assert from_nano(cost) == expected / 10**6 == Decimal("0.04185")


def test_the_project_multiplier_scales_the_exact_cost_before_rounding(db_url: str) -> None:
    ledger, project, key = setup(db_url, currency="CNY")
    # Tiny prices, so that costs have fractions of a nano-unit: per token 0.15, 0.6,
    # 0.075 and 0.1875 nano-USD.
    with ledger.engine.begin() as conn:
        set_price(conn, PriceInput("m", "0.00015", "0.0006", "0.000075", "USD", 100, "0.0001875"))
    usage = Usage(prompt_tokens=7, completion_tokens=3, cached_tokens=2, cache_write_tokens=1)
    costs = {}
    for i, multiplier in enumerate(["1", "1.15", "0.9", "1.025"]):
        admin.set_price_multiplier(ledger.engine, "acme", multiplier)
        costs[multiplier] = ledger.settle(f"r{i}", project, key, "m", usage, utcnow()).cost_nano
    # 4 plain input + 2 cached + 1 written + 3 output tokens, in nano-CNY:
    exact = 4 * Decimal("0.15") + 2 * Decimal("0.075") + Decimal("0.1875") + 3 * Decimal("0.6")
    assert exact * RATE == Decimal("19.71")
    # 19.71 -> 20; 22.6665 -> 23; 17.739 -> 18; 20.20275 -> 20 (rounding the list price
    # first would give 20 x 1.025 = 20.5 -> 21: the multiplier comes before the rounding).
    assert costs == {"1": 20, "1.15": 23, "0.9": 18, "1.025": 20}
    # The authorization's worst case is priced at the multiplier too.
    admin.set_monthly_budget(ledger.engine, "acme", "100")
    held = ledger.authorize("d", project, key, "m", 1_000_000, 0).reserved_nano
    # 1,000,000 prompt tokens, all of which may be (dearer) cache writes, and the model's
    # 100 max output tokens, in nano-USD:
    worst = 1_000_000 * Decimal("0.1875") + 100 * Decimal("0.6")
    assert worst * RATE * Decimal("1.025") == Decimal("1384192.8")
    assert held == 1_384_193


def test_the_multiplier_is_stored_exactly_and_listed(db_url: str) -> None:
    engine = make_engine(db_url)
    admin.create_project(engine, "reseller")
    assert admin.get_project(engine, "reseller").price_multiplier == "1"
    admin.set_price_multiplier(engine, "reseller", "1.123456789")
    (listed,) = admin.list_projects(engine)
    assert listed.price_multiplier == "1.123456789"


def test_seeding_gives_old_shipped_claude_prices_their_cache_write_price(db_url: str) -> None:
    engine = make_engine(db_url)
    sonnet = next(p for p in default_prices() if p.model == "claude-sonnet-4-5")
    assert sonnet.cache_write_input == "3.75"
    before = utcnow() - timedelta(days=30)
    with engine.begin() as conn:
        # As an install seeded before cache-write prices has it, plus an operator's price.
        set_price(conn, PriceInput("claude-sonnet-4-5", "3", "15", "0.3", "USD"), before)
        set_price(conn, PriceInput("claude-haiku-4-5", "2", "5", "0.1", "USD"), before)
    seed_prices(engine, SETTINGS)
    with engine.connect() as conn:
        upgraded = price_at(conn, "claude-sonnet-4-5", utcnow())
        kept = price_at(conn, "claude-haiku-4-5", utcnow())
        old = price_at(conn, "claude-sonnet-4-5", before)
    assert upgraded is not None and upgraded.cache_write_input_nano == to_nano("3.75")
    assert kept is not None and kept.cache_write_input_nano is None  # the operator's price
    assert old is not None and old.cache_write_input_nano is None  # history stays
    added_again = seed_prices(engine, SETTINGS)
    assert added_again == 0


def test_a_price_without_a_cache_write_price_stores_null(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        set_price(conn, PriceInput("m", "1", "2", None, "USD"))
        conn.execute(
            insert(PRICES).values(
                model="legacy",
                currency="USD",
                input_nano=5,
                output_nano=5,
                cached_input_nano=5,
                max_output_tokens=10,
                effective_from=utcnow(),
            )
        )
        stored = conn.execute(select(PRICES.c.cache_write_input_nano)).scalars().all()
        legacy = price_at(conn, "legacy", utcnow())
    assert stored == [None, None]
    assert legacy is not None and legacy.cache_write_nano == 5


def test_the_hold_covers_a_prompt_that_is_all_cache_writes(db_url: str) -> None:
    ledger, project, key = setup(db_url, budget="1000")
    # claude-haiku-4-5: input 1, cache writes 1.25, output 5 USD per million.
    held = ledger.authorize("r", project, key, "claude-haiku-4-5", 10_000, 1000).reserved_nano
    assert from_nano(held) == (10_000 * Decimal("1.25") + 1000 * 5) / 10**6
    usage = Usage(10_000, 1000, cache_write_tokens=10_000)
    assert ledger.settle("r", project, key, "claude-haiku-4-5", usage, utcnow()).cost_nano == held
    # Where writes cost the input price, the hold is the plain one.
    plain = ledger.authorize("p", project, key, "gpt-4o", 10_000, 1000).reserved_nano
    assert from_nano(plain) == (10_000 * Decimal("2.5") + 1000 * 10) / 10**6
