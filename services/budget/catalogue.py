"""The price catalogue in memory, for the request path (Authorize and Settle).

Prices are only ever added (prices.py: a new version effective from a time), so the
rows' count and largest id change with every version committed, and together they
stamp the catalogue. The request path reads the stamp in a statement it runs anyway
(the caller's or the projects' row) and reloads the versions only when it changed, so
a new price applies from its effective time however long the process has run, and no
call is billed at a stale price.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from services.budget.prices import price_of_row
from tollgate.db import as_utc
from tollgate.db.models import PRICES
from tollgate.money import Price

# The price of a model in force at a time, or None when it had none then.
PriceLookup = Callable[[str, datetime], Price | None]
Stamp = tuple[int, int]

# Columns to add to a statement on the request path: the catalogue's stamp.
STAMP_COLUMNS = (
    select(func.count(PRICES.c.id)).scalar_subquery().label("prices_count"),
    select(func.coalesce(func.max(PRICES.c.id), 0)).scalar_subquery().label("prices_last"),
)
_ALL = select(PRICES)
STAMP = select(*STAMP_COLUMNS)


def stamp_of(row: Any) -> Stamp:
    """The stamp a row of a statement with STAMP_COLUMNS carries."""
    return (int(row.prices_count), int(row.prices_last))


@dataclass(frozen=True)
class Catalogue:
    stamp: Stamp
    # Each model's versions, newest first: (effective from, id, price).
    versions: dict[str, list[tuple[datetime, int, Price]]]

    def at(self, model: str, at: datetime) -> Price | None:
        """As prices.price_at: the latest version effective at `at` (the last added
        of those effective at the same instant)."""
        at = as_utc(at)
        for effective_from, _, price in self.versions.get(model, ()):
            if effective_from <= at:
                return price
        return None

    def current(self, at: datetime) -> list[Price]:
        """As prices.current_prices: the price in force at `at` of every model that
        has one, by model name."""
        found = (self.at(model, at) for model in sorted(self.versions))
        return [price for price in found if price is not None]


def no_prices(model: str, at: datetime) -> Price | None:
    return None


_cached: dict[str, Catalogue] = {}
_lock = threading.Lock()


def current_catalogue(conn: Connection) -> Catalogue:
    """The catalogue now, for a caller that has no stamp at hand (one statement when
    it has not changed)."""
    return catalogue(conn, stamp_of(conn.execute(STAMP).one()))


def catalogue(conn: Connection, stamp: Stamp) -> Catalogue:
    """The catalogue as of `stamp` (or newer), loaded again only when it changed."""
    database = str(conn.engine.url)
    cached = _cached.get(database)
    if cached is not None and cached.stamp == stamp:
        return cached
    versions: dict[str, list[tuple[datetime, int, Price]]] = {}
    last = 0
    rows = conn.execute(_ALL).all()
    for row in rows:
        versions.setdefault(row.model, []).append(
            (as_utc(row.effective_from), row.id, price_of_row(row))
        )
        last = max(last, row.id)
    for model_versions in versions.values():
        model_versions.sort(key=lambda version: (version[0], version[1]), reverse=True)
    loaded = Catalogue((len(rows), last), versions)
    with _lock:
        _cached[database] = loaded
    return loaded
