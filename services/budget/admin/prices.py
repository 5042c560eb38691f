"""The price catalogue as operators change it: a new version of one model's price,
and an import of LiteLLM's price map. A price's currency is never assumed: without
one, a new version keeps the model's, and a model with no price yet must name one
(repricing a CNY model must not silently make it a USD price 7.2 times dearer)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from services.budget import price_import
from services.budget.admin.audit_log import Target, record
from services.budget.admin.errors import AdminError, checked
from services.budget.price_import import Change
from services.budget.prices import (
    BatchPriceIncomplete,
    CurrencyRequired,
    PriceInput,
    current_prices,
    describe,
    price_at,
    set_price,
)
from tollgate.db import utcnow
from tollgate.money import Price, check_currency, to_nano

MAX_MODEL_CHARS = 200  # prices.model
MAX_INT32 = 2**31 - 1  # prices.max_output_tokens
PRICE_FIELDS = (
    "input",
    "output",
    "cached_input",
    "cache_write_input",
    "batch_input",
    "batch_output",
    "batch_cached_input",
)


def _check(wanted: PriceInput) -> None:
    """Every field of `wanted` that no version could hold, named."""
    model = wanted.model.strip()
    if not model or "\x00" in model or len(model) > MAX_MODEL_CHARS:
        raise AdminError(f"a model name is 1 to {MAX_MODEL_CHARS} characters without NUL", "model")
    for name in PRICE_FIELDS:
        value = getattr(wanted, name)
        if value is not None:
            checked(name, to_nano, value)
    if wanted.currency is not None:
        checked("currency", check_currency, wanted.currency)
    cap = wanted.max_output_tokens
    if cap is not None and not 1 <= cap <= MAX_INT32:
        raise AdminError(
            f"'max_output_tokens' must be a whole number from 1 to {MAX_INT32}",
            "max_output_tokens",
        )


def put_price(engine: Engine, wanted: PriceInput) -> Price:
    """A new version of `wanted.model`'s price, in force from now."""
    _check(wanted)
    with engine.begin() as conn:
        before = price_at(conn, wanted.model.strip(), utcnow())
        try:
            created = set_price(conn, wanted)
        except CurrencyRequired as exc:
            raise AdminError(str(exc), "currency") from None
        except BatchPriceIncomplete as exc:
            raise AdminError(str(exc), exc.field) from None
        _audit(conn, "price.set", before, created)
        return created


def _audit(conn: Connection, action: str, before: Price | None, after: Price) -> None:
    shown = None if before is None else describe(before)
    record(conn, action, Target("price", after.model), shown, describe(after))


def list_prices(engine: Engine) -> list[Price]:
    with engine.connect() as conn:
        prices = current_prices(conn)
        conn.rollback()
    return prices


def import_price_map(
    engine: Engine, raw: bytes, providers: Sequence[str], *, dry_run: bool
) -> tuple[list[Change], int, list[str]]:
    """(new versions, models unchanged, entries skipped) of importing LiteLLM's map
    (`raw` JSON; empty: the shipped copy), in one transaction: whole or nothing."""
    if raw:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AdminError(f"the price map is not JSON: {exc}", "price_map") from None
    else:
        data = price_import.load(None)
    wanted = list(providers) or list(price_import.DEFAULT_PROVIDERS)
    try:
        price_map = price_import.read_price_map(data, wanted)
    except ValueError as exc:
        raise AdminError(str(exc), "price_map") from None
    with engine.begin() as conn:
        changes = price_import.import_prices(conn, price_map, utcnow(), dry_run=dry_run)
        for change in [] if dry_run else changes:
            _audit(conn, "price.import", change.before, change.after)
    return changes, len(price_map.prices) - len(changes), list(price_map.warnings)
