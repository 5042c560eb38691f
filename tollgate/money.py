"""Exact money.

Amounts are stored and summed as integers of nano-units (1e-9 of a currency unit), so
every total is the exact sum of its rows in SQL on SQLite and PostgreSQL alike. Prices
are stored the same way, per million tokens.

The one rounding rule: a call's cost is computed exactly, as a rational number (tokens
times prices, times the exchange rate when the price's currency is not the project's,
times the project's price multiplier), and then rounded once, half up, to a whole
nano-unit. Sums are never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction

NANO_PER_UNIT = 10**9
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per million tokens
CURRENCIES = ("CNY", "USD")
# Amounts fit a signed 64-bit nano-unit integer with room for sums.
MAX_AMOUNT = Decimal(10**9)
MAX_MULTIPLIER = Decimal(1000)

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


def parse_multiplier(text: str | Decimal | int) -> int:
    """A project's price multiplier (1.15 is a 15% markup, 0.9 a 10% discount) from user
    input, as an exact integer of billionths: at most 9 decimal places, 0 to 1000."""
    value = parse_amount(text, "price multiplier")
    if value > MAX_MULTIPLIER:
        raise MoneyError(f"price multiplier: {text!r} is too large (at most {MAX_MULTIPLIER})")
    return int(value.scaleb(9, context=_EXACT))


def format_multiplier(nano: int) -> str:
    """A multiplier in billionths as the shortest exact decimal: "1", "1.15", "0.9"."""
    return f"{from_nano(nano).normalize(context=_EXACT):f}"


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
    # Tokens written to the prompt cache; None bills them at the input price.
    cache_write_input_nano: int | None = None
    # The batch price of Batch API lines, its own; all None: the default rule (Budget's
    # batch_prices.py). Cached None: the batch input price.
    batch_input_nano: int | None = None
    batch_output_nano: int | None = None
    batch_cached_input_nano: int | None = None

    @property
    def cache_write_nano(self) -> int:
        """The cache-write price in force: its own, or the input price."""
        return (
            self.input_nano if self.cache_write_input_nano is None else self.cache_write_input_nano
        )


def exact_rate(from_currency: str, to_currency: str, usd_to_cny: Decimal) -> Fraction:
    """The exchange rate as an exact rational (CNY to USD is 1/7.2, not a rounded 0.138...)."""
    if from_currency == to_currency:
        return Fraction(1)
    if (from_currency, to_currency) == ("USD", "CNY"):
        return Fraction(usd_to_cny)
    if (from_currency, to_currency) == ("CNY", "USD"):
        return 1 / Fraction(usd_to_cny) if usd_to_cny else Fraction(0)
    raise MoneyError(f"no exchange rate from {from_currency} to {to_currency}")


def round_half_up(value: Fraction) -> int:
    """A non-negative rational to the nearest integer, halves away from zero."""
    return int((value + Fraction(1, 2)) // 1)


def cost_nano(
    price: Price,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    currency: str,
    usd_to_cny: Decimal,
    multiplier: Decimal = Decimal(1),
) -> int:
    """The cost of one call in nano-units of `currency`, rounded once, half up.

    `prompt_tokens` is the whole input, as OpenAI counts it: `cached_tokens` (read from
    the prompt cache) and `cache_write_tokens` (written to it) are parts of it, and the
    rest is plain input. Reasoning tokens are part of `completion_tokens`. So:

        exact = ((prompt - cached - cache_write) * input + cached * cached_input
                 + cache_write * cache_write_input + completion * output)
                / 1,000,000 * rate * multiplier

    Parts larger than the whole are cut to fit: cached first, then cache_write.
    """
    numerator = weighted_tokens(
        price,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        cache_write_tokens=cache_write_tokens,
    )
    if not multiplier.is_finite() or multiplier < 0:
        raise MoneyError(f"price multiplier: {multiplier} must be finite and non-negative")
    rate = exact_rate(price.currency, currency, usd_to_cny)
    exact = Fraction(numerator, TOKENS_PER_PRICE_UNIT) * rate * Fraction(multiplier)
    return round_half_up(exact)


def weighted_tokens(
    price: Price,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> int:
    """`cost_nano`'s numerator: each kind of token times its price per million, in
    nano-units of the price's currency (parts larger than the whole cut to fit)."""
    if min(prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens) < 0:
        raise MoneyError("token counts cannot be negative")
    cached = min(cached_tokens, prompt_tokens)
    cache_write = min(cache_write_tokens, prompt_tokens - cached)
    return (
        (prompt_tokens - cached - cache_write) * price.input_nano
        + cached * price.cached_input_nano
        + cache_write * price.cache_write_nano
        + completion_tokens * price.output_nano
    )
