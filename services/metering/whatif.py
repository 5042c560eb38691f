"""What-if: a project's month re-priced, exactly, from the token counts the ledger
recorded, under another model map, other prices or another cache-hit rate, beside
what it actually cost.

The rules, so that a hand computation gives the same answer:
- Billed calls (ok, partial, interrupted) of the project that started in the month
  (UTC) are grouped by the model that served them; each group's tokens are summed.
- A group is priced as `model_map[model]` (else as itself), at that model's price
  override when given (in the project's currency), else at its current price version,
  times the project's current price multiplier, converted to the project's currency.
- With a cache-hit rate r, that share of every call is answered from the cache at no
  cost: each group costs (1 - r) of its re-priced amount, and the month's actual cache
  hits are re-priced like every other call. Without r, the actual cache hits keep
  their actual cost and only the other calls are re-priced.
- Each group's re-priced tokens are priced exactly and rounded once, half up, to a
  nano-unit (tollgate.money.cost_nano); the totals are sums of the groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from services.metering.statuses import BILLED
from tollgate.db import read_transaction
from tollgate.db.models import LEDGER, PROJECTS
from tollgate.money import MoneyError, Price, cost_nano, from_nano, parse_amount, to_nano

_EXACT = Context(prec=60)
_TOKENS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens")


@dataclass(frozen=True)
class PriceBook:
    """Current price versions by model, and the exchange rate settlement uses."""

    prices: Mapping[str, Price]
    usd_to_cny: Decimal


@dataclass(frozen=True)
class WhatIfQuery:
    project_id: str
    first: datetime  # the month's first instant (UTC)
    end: datetime  # the next month's first instant
    model_map: Mapping[str, str] = field(default_factory=dict)
    # Per-million prices in the project's currency, overriding the price book.
    prices: Mapping[str, Price] = field(default_factory=dict)
    cache_hit_rate: Decimal | None = None


@dataclass
class Group:
    model: str
    priced_as: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    actual_nano: int = 0
    what_if_nano: int = 0


@dataclass
class WhatIf:
    project_id: str
    project: str
    currency: str
    groups: list[Group] = field(default_factory=list)

    @property
    def actual_nano(self) -> int:
        return sum(group.actual_nano for group in self.groups)

    @property
    def what_if_nano(self) -> int:
        return sum(group.what_if_nano for group in self.groups)


def parse_rate(text: str) -> Decimal | None:
    """A cache-hit rate: empty is none; else a decimal in [0, 1]."""
    if not text:
        return None
    try:
        rate = parse_amount(text, "cache_hit_rate")
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if rate > 1:
        raise ValueError(f"cache_hit_rate: {text!r} must be between 0 and 1")
    return rate


def override_price(model: str, input: str, output: str, cached: str = "") -> Price:
    """A what-if price per million tokens in the project's currency (cached input at the
    input price unless given; cache writes at the input price)."""
    if not model.strip():
        raise ValueError("price: the model name is empty")
    return Price(
        model=model.strip(),
        input_nano=to_nano(input),
        output_nano=to_nano(output),
        cached_input_nano=to_nano(cached or input),
        currency="",  # the project's, whichever it is
        max_output_tokens=0,
    )


def _rows(engine: Engine, query: WhatIfQuery) -> tuple[Any, Sequence[Any]]:
    sums = [func.sum(LEDGER.c[name]) for name in (*_TOKENS, "cost_nano")]
    select_groups = (
        select(LEDGER.c.model_served, LEDGER.c.cache_hit, func.count(), *sums)
        .where(
            LEDGER.c.project_id == query.project_id,
            LEDGER.c.started_at >= query.first,
            LEDGER.c.started_at < query.end,
            LEDGER.c.status.in_([str(status) for status in BILLED]),
        )
        .group_by(LEDGER.c.model_served, LEDGER.c.cache_hit)
        .order_by(LEDGER.c.model_served)
    )
    with read_transaction(engine) as conn:
        project = conn.execute(
            select(PROJECTS.c.name, PROJECTS.c.currency, PROJECTS.c.price_multiplier_nano).where(
                PROJECTS.c.id == query.project_id
            )
        ).first()
        if project is None:
            raise LookupError(query.project_id)
        return project, conn.execute(select_groups).all()


def what_if(engine: Engine, query: WhatIfQuery, book: PriceBook) -> WhatIf:
    """The month re-priced (see the module's rules); ValueError when a model it must
    price has no price."""
    project, rows = _rows(engine, query)
    result = WhatIf(query.project_id, project.name, project.currency)
    groups: dict[str, Group] = {}
    repriced: dict[str, list[int]] = {}  # model -> the token counts to re-price
    for model, hit, count, *counts in rows:
        tokens, actual = [int(value or 0) for value in counts[:4]], int(counts[4] or 0)
        group = groups.setdefault(model, Group(model, query.model_map.get(model, model)))
        group.requests += int(count)
        group.actual_nano += actual
        for name, value in zip(_TOKENS, tokens, strict=True):
            setattr(group, name, getattr(group, name) + value)
        if hit and query.cache_hit_rate is None:
            group.what_if_nano += actual  # the actual hits keep their actual cost
        else:
            sums = repriced.setdefault(model, [0, 0, 0, 0])
            repriced[model] = [a + b for a, b in zip(sums, tokens, strict=True)]
    multiplier = from_nano(project.price_multiplier_nano)
    if query.cache_hit_rate is not None:
        multiplier = _EXACT.multiply(multiplier, _EXACT.subtract(1, query.cache_hit_rate))
    for model, tokens in repriced.items():
        group = groups[model]
        price = _price(query, book, group.priced_as, result.currency)
        group.what_if_nano += _cost(price, book, tokens, result.currency, multiplier)
    result.groups = list(groups.values())
    return result


def _price(query: WhatIfQuery, book: PriceBook, model: str, currency: str) -> Price:
    if model in query.prices:
        return replace(query.prices[model], currency=currency)
    price = book.prices.get(model)
    if price is None:
        raise ValueError(f"model {model!r} has no price: give one (--price {model}=IN,OUT)")
    return price


def _cost(
    price: Price, book: PriceBook, tokens: list[int], currency: str, multiplier: Decimal
) -> int:
    prompt, completion, cached, cache_write = tokens
    return cost_nano(
        price,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
        currency=currency,
        usd_to_cny=book.usd_to_cny,
        multiplier=multiplier,
    )
