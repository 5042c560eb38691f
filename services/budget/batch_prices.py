"""Batch prices: what a Batch API line costs.

A line (a call made for a batch, `batch_id` on Authorize and Settle) is held and
billed at its model's batch price in the price version in force when the call
started, so batch prices are versioned with the model's price (one `prices` row):

- A version with a batch price of its own (`batch_input_nano` and
  `batch_output_nano`) bills plain input and output at those. Cache reads bill at
  `batch_cached_input_nano`, or, without one, at the cached price scaled as the batch
  input price is to the input price; cache writes at the cache-write price scaled the
  same way (Anthropic's batch discount covers both). A scaled price is rounded to a
  whole nano-unit per million tokens, half up.
- A version without one follows the default rule: the provider's published batch
  discount, applied exactly to the line's whole cost (rounded once, as every cost):
  half the price for OpenAI, Anthropic and Gemini models, and the normal price for
  every other model (`demo`, DeepSeek, a model of an unknown provider), which has no
  batch discount to give. Budget does not know which deployment serves a model, so the
  provider is read from the model's name (BATCH_DISCOUNTS).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction

from tollgate.money import Price, format_amount, from_nano, round_half_up

HALF = Decimal("0.5")
WHOLE = Decimal(1)

# Model-name prefixes of the providers with a batch discount, and its fraction of the
# price a batch line pays. A "provider/model" name counts as its provider's.
BATCH_DISCOUNTS: dict[str, tuple[tuple[str, ...], Decimal]] = {
    "openai": (
        ("gpt-", "chatgpt-", "chat-latest", "o1", "o3", "o4", "text-embedding-", "ft:"),
        HALF,
    ),
    "anthropic": (("claude-",), HALF),
    "gemini": (("gemini-",), HALF),
}


def provider_of(model: str) -> str | None:
    """The provider whose batch discount applies to `model`, by its name; None: none."""
    prefix, slash, rest = model.partition("/")
    if slash and prefix in BATCH_DISCOUNTS:
        return prefix
    name = model.lower()
    for provider, (prefixes, _) in BATCH_DISCOUNTS.items():
        if name.startswith(prefixes):
            return provider
    return None


def default_fraction(model: str) -> Decimal:
    """The fraction of its whole cost a batch line of `model` pays by the default rule."""
    provider = provider_of(model)
    return WHOLE if provider is None else BATCH_DISCOUNTS[provider][1]


def has_own(price: Price) -> bool:
    return price.batch_input_nano is not None and price.batch_output_nano is not None


def _scaled(nano: int, price: Price) -> int:
    """`nano` scaled as the batch input price is to the input price (the batch input
    price itself when the input is free), to the nano-unit, half up."""
    assert price.batch_input_nano is not None
    if price.input_nano == 0:
        return price.batch_input_nano
    return round_half_up(Fraction(nano * price.batch_input_nano, price.input_nano))


@dataclass(frozen=True)
class BatchTerms:
    """How a batch line is priced: at `price`, times `fraction` of its cost."""

    price: Price
    fraction: Decimal


def batch_terms(price: Price) -> BatchTerms:
    """The price and fraction a batch line of `price`'s version pays (module docstring)."""
    if not has_own(price):
        return BatchTerms(price, default_fraction(price.model))
    assert price.batch_input_nano is not None and price.batch_output_nano is not None
    cached = price.batch_cached_input_nano
    batch = replace(
        price,
        input_nano=price.batch_input_nano,
        output_nano=price.batch_output_nano,
        cached_input_nano=_scaled(price.cached_input_nano, price) if cached is None else cached,
        cache_write_input_nano=_scaled(price.cache_write_nano, price),
    )
    return BatchTerms(batch, WHOLE)


def _exact(nano: int, fraction: Decimal) -> str:
    """A price times a fraction, as an exact decimal string (half a nano-unit shows)."""
    if fraction == WHOLE:
        return format_amount(nano)
    value = (from_nano(nano) * fraction).normalize()
    text = f"{value:f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def describe_batch(price: Price) -> dict[str, str | bool]:
    """The batch price in force, per million tokens, as PriceVersion shows it."""
    terms = batch_terms(price)
    shown = terms.price
    return {
        "batch_input": _exact(shown.input_nano, terms.fraction),
        "batch_output": _exact(shown.output_nano, terms.fraction),
        "batch_cached_input": _exact(shown.cached_input_nano, terms.fraction),
        "batch_default": not has_own(price),
    }
