from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.money import (
    MoneyError,
    Price,
    cost_nano,
    format_amount,
    format_multiplier,
    from_nano,
    parse_amount,
    parse_multiplier,
    to_nano,
)

RATE = Decimal("7.2")


def price(input: str, output: str, cached: str | None = None, currency: str = "CNY") -> Price:
    return Price("m", to_nano(input), to_nano(output), to_nano(cached or input), currency, 4096)


def test_the_seed_worked_example_is_exact() -> None:
    # CNY 21 / 105 per million: 1,000,000 input + 500,000 output = CNY 73.50
    cost = cost_nano(
        price("21", "105"),
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
        currency="CNY",
        usd_to_cny=RATE,
    )
    assert from_nano(cost) == Decimal("73.5")
    assert format_amount(cost) == "73.50"


def test_float_looking_prices_stay_exact() -> None:
    # 2.5 USD per million tokens: 3 tokens cost exactly 0.0000075 USD
    cost = cost_nano(
        price("2.5", "10", currency="USD"),
        prompt_tokens=3,
        completion_tokens=0,
        currency="USD",
        usd_to_cny=RATE,
    )
    assert cost == 7500
    assert format_amount(cost) == "0.0000075"


def test_cached_tokens_use_the_cached_price() -> None:
    p = price("2", "8", cached="0.5", currency="USD")
    cost = cost_nano(
        p,
        prompt_tokens=1000,
        completion_tokens=0,
        cached_tokens=400,
        currency="USD",
        usd_to_cny=RATE,
    )
    assert from_nano(cost) == (Decimal(600) * 2 + Decimal(400) * Decimal("0.5")) / 10**6


def test_usd_prices_convert_to_cny_then_round_once_half_up() -> None:
    p = price("0.15", "0.6", currency="USD")
    cost = cost_nano(p, prompt_tokens=1, completion_tokens=0, currency="CNY", usd_to_cny=RATE)
    # 0.15e-6 USD * 7.2 = 1.08e-6 CNY = 1080 nano
    assert cost == 1080
    # 0.0001 CNY per million tokens is 0.1 nano per token: 4 tokens round down to 0
    tiny = price("0.0001", "0")
    assert (
        cost_nano(tiny, prompt_tokens=4, completion_tokens=0, currency="CNY", usd_to_cny=RATE) == 0
    )
    half = price("0.0005", "0")  # 0.5 nano CNY per token: 1 token rounds half up to 1 nano
    assert (
        cost_nano(half, prompt_tokens=1, completion_tokens=0, currency="CNY", usd_to_cny=RATE) == 1
    )


@pytest.mark.parametrize("bad", ["-1", "abc", "1e400", "NaN", "0.0000000001", "Infinity"])
def test_bad_amounts_are_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(bad)


def test_format_keeps_two_decimals_and_drops_trailing_zeros() -> None:
    assert format_amount(0) == "0.00"
    assert format_amount(5 * 10**9) == "5.00"
    assert format_amount(123_456_789) == "0.123456789"
    assert format_amount(10**9 + 10**8) == "1.10"


# --- cache writes, price multipliers, and the one rounding rule -------------------------


def full_price(
    input: int, output: int, cached: int, cache_write: int | None, currency: str
) -> Price:
    return Price("m", input, output, cached, currency, 4096, cache_write_input_nano=cache_write)


def test_cache_writes_use_the_cache_write_price() -> None:
    # Claude Sonnet: 3 / 15, cache reads 0.3, 5-minute cache writes 3.75 USD per million.
    p = full_price(to_nano("3"), to_nano("15"), to_nano("0.3"), to_nano("3.75"), "USD")
    cost = cost_nano(
        p,
        prompt_tokens=10 + 100 + 2000,  # OpenAI's prompt_tokens: every input token
        completion_tokens=50,
        cached_tokens=100,
        cache_write_tokens=2000,
        currency="USD",
        usd_to_cny=RATE,
    )
    expected = (
        10 * Decimal("3") + 100 * Decimal("0.3") + 2000 * Decimal("3.75") + 50 * Decimal("15")
    ) / 10**6
    assert from_nano(cost) == expected == Decimal("0.00831")


def test_without_a_cache_write_price_writes_cost_the_input_price() -> None:
    p = full_price(to_nano("3"), to_nano("15"), to_nano("0.3"), None, "USD")
    with_writes = cost_nano(
        p,
        prompt_tokens=1000,
        completion_tokens=0,
        cache_write_tokens=600,
        currency="USD",
        usd_to_cny=RATE,
    )
    plain = cost_nano(p, prompt_tokens=1000, completion_tokens=0, currency="USD", usd_to_cny=RATE)
    assert with_writes == plain == 3_000_000  # 1000 tokens at 3 USD per million


def test_parts_larger_than_the_prompt_are_cut_to_fit() -> None:
    p = full_price(to_nano("1"), 0, to_nano("0.1"), to_nano("2"), "USD")
    # 100 prompt tokens, of which "80 cached" and "80 written": 80 cached, then 20 written.
    cost = cost_nano(
        p,
        prompt_tokens=100,
        completion_tokens=0,
        cached_tokens=80,
        cache_write_tokens=80,
        currency="USD",
        usd_to_cny=RATE,
    )
    assert cost == 80 * 100 + 20 * 2000


def test_the_multiplier_applies_before_the_single_rounding() -> None:
    # 0.0005 CNY per million is 0.5 nano a token: 1 token at x0.9 is 0.45 nano -> 0, and
    # 3 tokens at x1.15 are 1.725 nano -> 2; rounding first would give 1 * 0.9 -> 1.
    p = full_price(to_nano("0.0005"), 0, to_nano("0.0005"), None, "CNY")
    assert (
        cost_nano(
            p,
            prompt_tokens=1,
            completion_tokens=0,
            currency="CNY",
            usd_to_cny=RATE,
            multiplier=Decimal("0.9"),
        )
        == 0
    )
    assert (
        cost_nano(
            p,
            prompt_tokens=3,
            completion_tokens=0,
            currency="CNY",
            usd_to_cny=RATE,
            multiplier=Decimal("1.15"),
        )
        == 2
    )


def test_cny_prices_convert_to_usd_exactly() -> None:
    # 0.355 nano CNY a token at 7.1 CNY per USD: 10 tokens are exactly 0.5 nano USD, which
    # rounds half up to 1. A 60-digit decimal 1/7.1 lands just under the half (0).
    p = full_price(to_nano("0.000355"), 0, to_nano("0.000355"), None, "CNY")
    rate = Decimal("7.1")
    assert cost_nano(p, prompt_tokens=10, completion_tokens=0, currency="USD", usd_to_cny=rate) == 1


@pytest.mark.parametrize(
    ("text", "nano", "shown"),
    [
        ("1", 10**9, "1"),
        ("1.15", 1_150_000_000, "1.15"),
        ("0.9", 900_000_000, "0.9"),
        ("2.500", 2_500_000_000, "2.5"),
        ("0", 0, "0"),
        ("1000", 10**12, "1000"),
    ],
)
def test_multipliers_are_exact_decimals(text: str, nano: int, shown: str) -> None:
    assert parse_multiplier(text) == nano
    assert format_multiplier(nano) == shown


@pytest.mark.parametrize("bad", ["-1", "1.5x", "NaN", "1001", "1.0000000001", "Infinity"])
def test_bad_multipliers_are_refused(bad: str) -> None:
    with pytest.raises(MoneyError, match="price multiplier"):
        parse_multiplier(bad)


nanos = st.integers(min_value=0, max_value=10**12)  # up to 1000 a million tokens
counts = st.integers(min_value=0, max_value=10**7)


@given(
    prices=st.tuples(nanos, nanos, nanos, st.none() | nanos),
    tokens=st.tuples(counts, counts, counts, counts),
    currencies=st.sampled_from([("USD", "USD"), ("USD", "CNY"), ("CNY", "USD"), ("CNY", "CNY")]),
    multiplier_nano=st.integers(min_value=0, max_value=10**12),
    rate=st.decimals(min_value="0.01", max_value="100", places=4),
)
def test_cost_is_the_exact_rational_rounded_once_half_up(
    prices: tuple[int, int, int, int | None],
    tokens: tuple[int, int, int, int],
    currencies: tuple[str, str],
    multiplier_nano: int,
    rate: Decimal,
) -> None:
    input, output, cached_price, write_price = prices
    prompt, completion, cached, written = tokens
    price_currency, bill_currency = currencies
    p = full_price(input, output, cached_price, write_price, price_currency)
    multiplier = from_nano(multiplier_nano)
    cost = cost_nano(
        p,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=written,
        currency=bill_currency,
        usd_to_cny=rate,
        multiplier=multiplier,
    )
    # The same formula in plain rationals, written out independently.
    read = min(cached, prompt)
    wrote = min(written, prompt - read)
    per_million = (
        (prompt - read - wrote) * input
        + read * cached_price
        + wrote * (input if write_price is None else write_price)
        + completion * output
    )
    conversion = {("USD", "CNY"): Fraction(rate), ("CNY", "USD"): 1 / Fraction(rate)}.get(
        currencies, Fraction(1)
    )
    exact = Fraction(per_million, 10**6) * conversion * Fraction(multiplier_nano, 10**9)
    floor = exact.numerator // exact.denominator
    expected = floor + (1 if exact - floor >= Fraction(1, 2) else 0)
    assert cost == expected
