"""Batch prices (Batch API lines) on SQLite and PostgreSQL: the default rule (the
provider's published discount, exactly; the normal price where there is none), a
model's own batch price, versioned like every price, shown in the listing, set by
operators and read from LiteLLM's map."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from services.budget.admin import operations as admin
from services.budget.admin.errors import AdminError
from services.budget.admin.prices import list_prices, put_price
from services.budget.admin.wire import price_pb
from services.budget.batch_prices import batch_terms, default_fraction, provider_of
from services.budget.price_import import import_prices, read_price_map
from services.budget.prices import (
    BatchPriceIncomplete,
    PriceInput,
    price_at,
    seed_prices,
    set_price,
)
from services.budget.reference import SettleTerms
from services.budget.reservations import ReservationBook, Usage
from tollgate.config import load_settings
from tollgate.db import make_engine, utcnow
from tollgate.money import to_nano

RATE = Decimal("7.2")
SETTINGS = load_settings({"TOLLGATE_HOME": "/nonexistent"})
BATCH = SettleTerms(batch_id="batch_1")


def setup(url: str) -> tuple[ReservationBook, str, str]:
    engine = make_engine(url)
    seed_prices(engine, SETTINGS)
    project = admin.create_project(engine, "acme", currency="USD")
    key = admin.create_key(engine, "acme")
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600), project.id, key.info.id


def exact_nano(
    usage: Usage, input: str, output: str, cached: str, cache_write: str | None = None
) -> Fraction:
    """A call's exact cost in nano-units at prices per million tokens (no rounding)."""
    plain = usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens
    per_million = (
        plain * Fraction(input)
        + usage.cached_tokens * Fraction(cached)
        + usage.cache_write_tokens * Fraction(cache_write or input)
        + usage.completion_tokens * Fraction(output)
    )
    return per_million / 10**6 * 10**9


def half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))


@pytest.mark.parametrize(
    ("model", "provider", "fraction"),
    [
        ("gpt-4o", "openai", "0.5"),
        ("o3-mini", "openai", "0.5"),
        ("text-embedding-3-small", "openai", "0.5"),
        ("claude-sonnet-4-5", "anthropic", "0.5"),
        ("gemini-2.5-flash", "gemini", "0.5"),
        ("anthropic/my-claude", "anthropic", "0.5"),
        ("demo", None, "1"),
        ("deepseek-chat", None, "1"),
        ("my-own-llama", None, "1"),
    ],
)
def test_the_default_rule_is_the_providers_published_discount(
    model: str, provider: str | None, fraction: str
) -> None:
    assert provider_of(model) == provider
    assert default_fraction(model) == Decimal(fraction)


def test_a_batch_line_without_a_batch_price_costs_half_exactly_rounded_once(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    # Odd nano-unit prices: half of each is not a whole nano-unit, so a price halved
    # and rounded would differ from the cost halved and rounded once.
    with ledger.engine.begin() as conn:
        set_price(conn, PriceInput("gpt-odd", "0.000000003", "0.000000007", None, "USD"))
    usage = Usage(333_333, 111_111)
    normal = ledger.settle("n", project, key, "gpt-odd", usage, utcnow())
    batch = ledger.settle("b", project, key, "gpt-odd", usage, utcnow(), BATCH)
    whole = exact_nano(usage, "0.000000003", "0.000000007", "0.000000003")
    assert normal.cost_nano == half_up(whole)
    assert batch.cost_nano == half_up(whole / 2)
    # Its reference is the whole price: the batch discount is what it saved.
    assert batch.reference_nano == normal.cost_nano


def test_claude_batch_lines_halve_cache_reads_and_writes_too(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    usage = Usage(100_000, 5_000, cached_tokens=40_000, cache_write_tokens=30_000)
    cost = ledger.settle("c", project, key, "claude-sonnet-4-5", usage, utcnow(), BATCH)
    assert cost.cost_nano == half_up(exact_nano(usage, "3", "15", "0.3", "3.75") / 2)


@pytest.mark.parametrize("model", ["demo", "deepseek-chat"])
def test_a_model_without_a_batch_discount_bills_batch_lines_at_its_price(
    db_url: str, model: str
) -> None:
    ledger, project, key = setup(db_url)
    usage = Usage(12_345, 678)
    normal = ledger.settle("n", project, key, model, usage, utcnow())
    batch = ledger.settle("b", project, key, model, usage, utcnow(), BATCH)
    assert batch.cost_nano == normal.cost_nano > 0
    assert batch.reference_nano == batch.cost_nano  # nothing saved


def test_a_models_own_batch_price_bills_its_batch_lines(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    with ledger.engine.begin() as conn:
        set_price(
            conn,
            PriceInput(
                "claude-x",
                "3",
                "15",
                "0.3",
                "USD",
                cache_write_input="3.75",
                batch_input="1.2",
                batch_output="6",
            ),
        )
    usage = Usage(100_000, 5_000, cached_tokens=40_000, cache_write_tokens=30_000)
    cost = ledger.settle("c", project, key, "claude-x", usage, utcnow(), BATCH)
    # Unset batch cached input and cache writes: scaled as 1.2 is to 3 (0.4 of them).
    assert cost.cost_nano == half_up(exact_nano(usage, "1.2", "6", "0.12", "1.5"))
    plain = ledger.settle("p", project, key, "claude-x", usage, utcnow())
    assert plain.cost_nano == half_up(exact_nano(usage, "3", "15", "0.3", "3.75"))
    assert cost.reference_nano == plain.cost_nano


def test_an_explicit_batch_cached_price_is_used_as_given(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    with ledger.engine.begin() as conn:
        wanted = PriceInput("m", "2", "8", "0.5", "USD", batch_input="1", batch_output="4")
        set_price(conn, PriceInput(**{**wanted.__dict__, "batch_cached_input": "0.1"}))
    usage = Usage(10_000, 1_000, cached_tokens=6_000)
    cost = ledger.settle("c", project, key, "m", usage, utcnow(), BATCH)
    assert cost.cost_nano == half_up(exact_nano(usage, "1", "4", "0.1"))


def test_batch_prices_are_versioned_with_the_price(db_url: str) -> None:
    ledger, project, key = setup(db_url)
    t0 = utcnow() - timedelta(hours=3)
    with ledger.engine.begin() as conn:
        for hours, batch in ((0, ("1", "2")), (1, ("3", "4")), (2, (None, None))):
            set_price(
                conn,
                PriceInput(
                    "gpt-v", "10", "20", None, "USD", batch_input=batch[0], batch_output=batch[1]
                ),
                effective_from=t0 + timedelta(hours=hours),
            )
    usage = Usage(1_000_000, 1_000_000)
    costs = [
        ledger.settle(f"r{m}", project, key, "gpt-v", usage, t0 + timedelta(minutes=m), BATCH)
        for m in (30, 90, 150)
    ]
    # 1 + 2, then 3 + 4, then the default rule: half of 10 + 20.
    assert [c.cost_nano for c in costs] == [to_nano("3"), to_nano("7"), to_nano("15")]


def test_half_a_batch_price_is_refused_naming_the_missing_field(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_prices(engine, SETTINGS)
    with pytest.raises(AdminError) as refused:
        put_price(engine, PriceInput("gpt-4o", "2.5", "10", None, None, batch_input="1"))
    assert refused.value.param == "batch_output"
    with pytest.raises(AdminError) as refused:
        put_price(engine, PriceInput("gpt-4o", "2.5", "10", None, None, batch_cached_input="1"))
    assert refused.value.param == "batch_input"
    with pytest.raises(AdminError) as refused:
        wanted = PriceInput("gpt-4o", "2.5", "10", None, None, batch_input="x", batch_output="1")
        put_price(engine, wanted)
    assert refused.value.param == "batch_input"
    with engine.begin() as conn, pytest.raises(BatchPriceIncomplete):
        set_price(conn, PriceInput("gpt-4o", "2.5", "10", None, None, batch_output="1"))
    with engine.connect() as conn:  # nothing was written
        price = price_at(conn, "gpt-4o", utcnow())
    assert price is not None and price.batch_input_nano is None


def test_the_listing_shows_the_batch_price_in_force(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_prices(engine, SETTINGS)
    put_price(
        engine,
        PriceInput("claude-x", "3", "15", "0.3", "USD", batch_input="1.5", batch_output="7.5"),
    )
    put_price(engine, PriceInput("gpt-odd", "0.000000003", "1", None, "USD"))
    shown: dict[str, Any] = {p.model: price_pb(p) for p in list_prices(engine)}
    gpt = shown["gpt-4o"]
    assert (gpt.batch_input, gpt.batch_output, gpt.batch_cached_input) == ("1.25", "5.00", "0.625")
    assert gpt.batch_default
    demo = shown["demo"]
    assert (demo.batch_input, demo.batch_output, demo.batch_default) == ("21.00", "105.00", True)
    own = shown["claude-x"]
    assert (own.batch_input, own.batch_output, own.batch_cached_input) == ("1.50", "7.50", "0.15")
    assert not own.batch_default
    assert shown["gpt-odd"].batch_input == "0.0000000015"  # exact: half a nano-unit


def test_batch_terms_of_a_free_input_use_the_batch_input_price() -> None:
    with_free_input = price_with(input_nano=0, batch_input_nano=5, batch_output_nano=7)
    terms = batch_terms(with_free_input)
    assert (terms.price.cached_input_nano, terms.price.cache_write_nano) == (5, 5)


def price_with(**fields: int) -> Any:
    from tollgate.money import Price

    base = {"input_nano": 10, "output_nano": 20, "cached_input_nano": 1}
    return Price(model="m", currency="USD", max_output_tokens=10, **{**base, **fields})


def test_the_price_map_import_reads_litellms_batch_prices(db_url: str) -> None:
    engine = make_engine(db_url)
    entries = {
        "gpt-b": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 2.5e-06,
            "output_cost_per_token": 1e-05,
            "input_cost_per_token_batches": 1.25e-06,
            "output_cost_per_token_batches": 5e-06,
        },
        "gpt-half": {  # half a batch price is none: the default rule
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 2e-06,
            "output_cost_per_token": 8e-06,
            "input_cost_per_token_batches": 1e-06,
        },
        "text-embedding-b": {
            "litellm_provider": "openai",
            "mode": "embedding",
            "input_cost_per_token": 2e-08,
            "input_cost_per_token_batches": 1e-08,
        },
    }
    price_map = read_price_map(entries, ["openai"])
    now = utcnow()
    with engine.begin() as conn:
        assert len(import_prices(conn, price_map, now)) == 3
    with engine.begin() as conn:
        assert import_prices(conn, price_map, now) == []  # the same map adds nothing
        got = {m: price_at(conn, m, now) for m in entries}
    assert (got["gpt-b"].batch_input_nano, got["gpt-b"].batch_output_nano) == (  # type: ignore[union-attr]
        to_nano("1.25"),
        to_nano("5"),
    )
    assert got["gpt-half"].batch_input_nano is None  # type: ignore[union-attr]
    embedding = got["text-embedding-b"]
    assert embedding is not None
    assert (embedding.batch_input_nano, embedding.batch_output_nano) == (to_nano("0.01"), 0)


def test_an_import_names_a_batch_price_change_only_when_one_side_has_its_own() -> None:
    from tollgate.cli.prices import describe_change
    from tollgate.v1 import budget_pb2

    def version(output: str, batch_output: str) -> budget_pb2.PriceVersion:
        return budget_pb2.PriceVersion(
            model="m",
            currency="USD",
            input="2.00",
            cached_input="2.00",
            output=output,
            batch_input="1.00",
            batch_cached_input="1.00",
            batch_output=batch_output,
            batch_default=True,
        )

    before, moved = version("8.00", "4.00"), version("10.00", "5.00")
    change = budget_pb2.PriceChange(before=before, after=moved)
    assert describe_change(change) == "m: output 8.00 -> 10.00 USD per million tokens (changed)"
    own = budget_pb2.PriceVersion()
    own.CopyFrom(moved)
    own.batch_output, own.batch_default = "3.00", False
    shown = describe_change(budget_pb2.PriceChange(before=before, after=own))
    assert "output 8.00 -> 10.00, batch output 4.00 -> 3.00 USD" in shown


def test_the_discount_the_rate_and_a_multiplier_compose_exactly(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_prices(engine, SETTINGS)
    project = admin.create_project(engine, "cny", currency="CNY")
    admin.set_price_multiplier(engine, "cny", "1.15")
    key = admin.create_key(engine, "cny").info.id
    ledger = ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600)
    usage = Usage(77_777, 3_333, cached_tokens=11_111)
    cost = ledger.settle("b", project.id, key, "gpt-4o", usage, utcnow(), BATCH)
    exact = exact_nano(usage, "2.5", "10", "1.25") * Fraction(RATE) * Fraction("1.15") / 2
    assert cost.cost_nano == half_up(exact)
