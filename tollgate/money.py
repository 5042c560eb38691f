"""Exact money.

Amounts are stored and summed as integers of nano-units (1e-9 of a currency unit), so
every total is the exact sum of its rows in SQL on SQLite and PostgreSQL alike. Prices
are stored the same way, per million tokens.

The one rounding rule: a call's cost is computed exactly (tokens times prices, times
the exchange rate when the price's currency is not the project's) and then rounded
once, half up, to a whole nano-unit. Sums are never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

NANO_PER_UNIT = 10**9
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per million tokens
CURRENCIES = ("CNY", "USD")
# Amounts fit a signed 64-bit nano-unit integer with room for sums.
MAX_AMOUNT = Decimal(10**9)

_EXACT = Context(prec=60)


class MoneyError(ValueError):
    pass


def parse_amount(text: str | Decimal | int, what: str = "amount") -> Decimal:
    """A non-negative decimal with at most 9 decimal places, from user input."""
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise MoneyError(f"{what}: {text!r} is not a decimal number") from exc
    if not value.is_finite() or value < 0:
        raise MoneyError(f"{what}: {text!r} must be a finite, non-negative number")
    if value >= MAX_AMOUNT:
        raise MoneyError(f"{what}: {text!r} is too large (at most {MAX_AMOUNT - 1})")
    if value != value.quantize(Decimal(1).scaleb(-9), context=_EXACT):
        raise MoneyError(f"{what}: {text!r} has more than 9 decimal places")
    return value


def to_nano(amount: Decimal | str | int) -> int:
    value = parse_amount(amount)
    return int(value.scaleb(9, context=_EXACT))


def from_nano(nano: int) -> Decimal:
    return Decimal(nano).scaleb(-9, context=_EXACT)


def format_amount(nano: int) -> str:
    """A nano-unit integer as a decimal string with at least two decimals: "73.50"."""
    text = f"{from_nano(nano):.9f}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


def check_currency(currency: str) -> str:
    code = currency.strip().upper()
    if code not in CURRENCIES:
        raise MoneyError(f"currency: {currency!r} is not one of {', '.join(CURRENCIES)}")
    return code


@dataclass(frozen=True)
class Price:
    """A model's price per million tokens, in nano-units of `currency`."""

    model: str
    input_nano: int
    output_nano: int
    cached_input_nano: int
    currency: str
    max_output_tokens: int


def conversion_rate(from_currency: str, to_currency: str, usd_to_cny: Decimal) -> Decimal:
    if from_currency == to_currency:
        return Decimal(1)
    if (from_currency, to_currency) == ("USD", "CNY"):
        return usd_to_cny
    if (from_currency, to_currency) == ("CNY", "USD"):
        return Decimal(1) / usd_to_cny if usd_to_cny else Decimal(0)
    raise MoneyError(f"no exchange rate from {from_currency} to {to_currency}")


def cost_nano(
    price: Price,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    currency: str,
    usd_to_cny: Decimal,
) -> int:
    """The cost of one call in nano-units of `currency`, rounded once, half up."""
    if min(prompt_tokens, completion_tokens, cached_tokens) < 0:
        raise MoneyError("token counts cannot be negative")
    cached = min(cached_tokens, prompt_tokens)
    numerator = (
        (prompt_tokens - cached) * price.input_nano
        + cached * price.cached_input_nano
        + completion_tokens * price.output_nano
    )
    rate = conversion_rate(price.currency, currency, usd_to_cny)
    exact = _EXACT.multiply(_EXACT.divide(Decimal(numerator), TOKENS_PER_PRICE_UNIT), rate)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_EXACT))
