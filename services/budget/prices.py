"""The price catalogue: versioned prices per model, per million tokens.

Setting a price adds a version effective from now; a call is billed at the version
in force when it started, so changing a price never changes an old bill.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, select

from services.budget.batch_prices import describe_batch
from tollgate.config import Settings
from tollgate.db import utcnow
from tollgate.db.models import PRICES
from tollgate.money import Price, check_currency, format_amount, to_nano

DEFAULT_MAX_OUTPUT_TOKENS = 4096


@dataclass(frozen=True)
class PriceInput:
    model: str
    input: Decimal | str
    output: Decimal | str
    cached_input: Decimal | str | None
    currency: str | None  # None: the model's current currency (a new model must name one)
    max_output_tokens: int | None = None
    # None: tokens written to the prompt cache cost the input price.
    cache_write_input: Decimal | str | None = None
    # The batch price (batch_prices.py): input and output together, or neither (the
    # default rule); cached None: the cached price scaled like the input.
    batch_input: Decimal | str | None = None
    batch_output: Decimal | str | None = None
    batch_cached_input: Decimal | str | None = None


class CurrencyRequired(ValueError):
    """A model with no price yet was priced without a currency."""


def price_of_row(row: Row[Any]) -> Price:
    return Price(
        model=row.model,
        input_nano=row.input_nano,
        output_nano=row.output_nano,
        cached_input_nano=row.cached_input_nano,
        currency=row.currency,
        max_output_tokens=row.max_output_tokens,
        cache_write_input_nano=row.cache_write_input_nano,
        batch_input_nano=row.batch_input_nano,
        batch_output_nano=row.batch_output_nano,
        batch_cached_input_nano=row.batch_cached_input_nano,
    )


# Built once: on the request path (every Authorize and Settle) building the statement
# cost more than running it.
_PRICE_AT = (
    select(PRICES)
    .where(PRICES.c.model == bindparam("model"), PRICES.c.effective_from <= bindparam("at"))
    .order_by(PRICES.c.effective_from.desc(), PRICES.c.id.desc())
    .limit(1)
)


def price_at(conn: Connection, model: str, at: datetime) -> Price | None:
    """The version of `model`'s price in force at `at`, or None when it has none."""
    row = conn.execute(_PRICE_AT, {"model": model, "at": at}).first()
    return price_of_row(row) if row else None


def to_price(price: PriceInput, max_output_tokens: int) -> Price:
    """The exact price for `price`; raises MoneyError on a bad amount or currency."""
    if not price.model.strip():
        raise ValueError("model: must not be empty")
    if max_output_tokens <= 0:
        raise ValueError("max_output_tokens: must be positive")
    cached = price.cached_input if price.cached_input is not None else price.input
    cache_write = price.cache_write_input
    batch_input, batch_output, batch_cached = _batch(price)
    return Price(
        model=price.model.strip(),
        input_nano=to_nano(price.input),
        output_nano=to_nano(price.output),
        cached_input_nano=to_nano(cached),
        currency=check_currency(_currency(price)),
        max_output_tokens=max_output_tokens,
        cache_write_input_nano=None if cache_write is None else to_nano(cache_write),
        batch_input_nano=batch_input,
        batch_output_nano=batch_output,
        batch_cached_input_nano=batch_cached,
    )


class BatchPriceIncomplete(ValueError):
    """A batch price without its input or output price (`field` names the missing one)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _batch(price: PriceInput) -> tuple[int | None, int | None, int | None]:
    """The batch price's nano-units: all three, or all None (the default rule)."""
    given = (price.batch_input, price.batch_output, price.batch_cached_input)
    if all(value is None for value in given):
        return None, None, None
    for name in ("batch_input", "batch_output"):
        if getattr(price, name) is None:
            raise BatchPriceIncomplete(
                f"{name}: a batch price needs batch_input and batch_output together", name
            )
    nanos = [None if value is None else to_nano(value) for value in given]
    return nanos[0], nanos[1], nanos[2]


def _currency(price: PriceInput) -> str:
    if price.currency is None:
        raise CurrencyRequired(
            f"currency: {price.model.strip()!r} has no price yet; name its currency (USD or CNY)"
        )
    return price.currency


def set_price(conn: Connection, price: PriceInput, effective_from: datetime | None = None) -> Price:
    """Add a price version; raises MoneyError on a bad amount or currency. Without a
    max_output_tokens it keeps the current version's (or the default); without a currency
    it keeps the current version's (a model with no price yet raises CurrencyRequired)."""
    current = price_at(conn, price.model.strip(), utcnow())
    if price.currency is None and current is not None:
        price = replace(price, currency=current.currency)
    max_output = price.max_output_tokens
    if max_output is None:
        max_output = current.max_output_tokens if current else DEFAULT_MAX_OUTPUT_TOKENS
    created = to_price(price, max_output)
    conn.execute(
        PRICES.insert().values(**asdict(created), effective_from=effective_from or utcnow())
    )
    return created


def current_prices(conn: Connection) -> list[Price]:
    """The price in force now of every model that has one, by model name."""
    now = utcnow()
    models = conn.execute(select(PRICES.c.model).distinct().order_by(PRICES.c.model)).scalars()
    return [p for m in list(models) if (p := price_at(conn, m, now)) is not None]


def describe(price: Price) -> dict[str, str | int | bool]:
    return {
        "model": price.model,
        "currency": price.currency,
        "input": format_amount(price.input_nano),
        "output": format_amount(price.output_nano),
        "cached_input": format_amount(price.cached_input_nano),
        "cache_write_input": format_amount(price.cache_write_nano),
        "max_output_tokens": price.max_output_tokens,
        **describe_batch(price),
    }


def default_prices() -> list[PriceInput]:
    """The shipped catalogue: today's mainstream models plus `demo`."""
    text = resources.files("tollgate").joinpath("data/default_prices.json").read_text()
    return [
        PriceInput(
            model=item["model"],
            input=item["input"],
            output=item["output"],
            cached_input=item.get("cached_input"),
            currency=item["currency"],
            max_output_tokens=item.get("max_output_tokens"),
            cache_write_input=item.get("cache_write_input"),
            batch_input=item.get("batch_input"),
            batch_output=item.get("batch_output"),
            batch_cached_input=item.get("batch_cached_input"),
        )
        for item in json.loads(text)["prices"]
    ]


def _same(price: Price, wanted: PriceInput) -> bool:
    """Whether `price` already bills what `wanted` asks (its max output tokens aside)."""
    other = to_price(wanted, price.max_output_tokens)
    return replace(other, model=price.model) == price


def _untouched_but_lacks_cache_write(price: Price, wanted: PriceInput) -> bool:
    """A shipped default from before cache-write prices: same price, no cache-write one.
    (A price an operator changed is left alone.)"""
    if wanted.cache_write_input is None or price.cache_write_input_nano is not None:
        return False
    return _same(price, replace(wanted, cache_write_input=None))


def seed_prices(engine: Engine, settings: Settings) -> int:
    """Give every shipped model without a price its default (and a shipped default that
    predates cache-write prices its cache-write price), and make the YAML file's
    prices current (a new version only where they differ). Returns versions added."""
    added = 0
    with engine.begin() as conn:
        now = utcnow()
        configured_models = {configured.model for configured in settings.prices}
        for wanted in default_prices():
            current = price_at(conn, wanted.model, now)
            upgrade = wanted.model not in configured_models and current is not None
            if current is None or (upgrade and _untouched_but_lacks_cache_write(current, wanted)):
                set_price(conn, wanted, effective_from=now)
                added += 1
        for configured in settings.prices:
            wanted = PriceInput(
                configured.model,
                configured.input,
                configured.output,
                configured.cached_input,
                configured.currency,
            )
            current = price_at(conn, wanted.model, now)
            if current is None or not _same(current, wanted):
                set_price(conn, wanted, effective_from=now)
                added += 1
    return added
