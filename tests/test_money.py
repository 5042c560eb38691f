from decimal import Decimal

import pytest

from tollgate.money import (
    MoneyError,
    Price,
    cost_nano,
    format_amount,
    from_nano,
    parse_amount,
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
