"""Hold arithmetic: what a call may cost at worst, and the counters a hold moves.

A call is held at the largest worst case of every upstream model that may serve it:
the served model, and the candidates its route may fall back to (the router's
ModelInfo.candidates, sent by the gateway). A fallback to a dearer model can then
never bill more than the hold, so a hard budget holds through any failover. A
candidate without a price cannot be billed at all if it answers: the call is refused
rather than served free (`Dearest.unpriced`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import Connection, Row

from services.budget import queries
from services.budget.batch_prices import batch_terms
from services.budget.budgets import Counter, CounterId, move
from services.budget.catalogue import PriceLookup
from services.budget.reservation_state import ReservationState
from tollgate.money import Price, cost_nano, from_nano

_EXACT = Context(prec=60)  # a multiplier times a fraction, 18 decimals at most: exact
# The longest hold a call may ask for: a batch's completion window (24 hours at
# OpenAI and Anthropic) with room to spare. A longer one is refused, not clipped.
MAX_HOLD_SECONDS = 7 * 24 * 3600
MAX_BATCH_ID = 64  # reservations.batch_id


class HoldTooLong(ValueError):
    """An Authorize asked to hold longer than MAX_HOLD_SECONDS (or a negative time)."""


def hold_ttl(hold_seconds: int, default: timedelta) -> timedelta:
    """How long a hold lasts: `hold_seconds` (a batch's window), or 0: `default`."""
    if not 0 <= hold_seconds <= MAX_HOLD_SECONDS:
        raise HoldTooLong(f"hold_seconds: must be 0 to {MAX_HOLD_SECONDS}")
    return timedelta(seconds=hold_seconds) if hold_seconds else default


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0  # the whole input, cached and cache-write tokens included
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    @staticmethod
    def worst_case(price: Price, prompt_tokens: int, completion_tokens: int) -> Usage:
        """The dearest way the prompt can be billed: as cache writes when they cost more
        than plain input (Anthropic's are 1.25x), and never as cheaper cache reads."""
        writes = prompt_tokens if price.cache_write_nano > price.input_nano else 0
        return Usage(prompt_tokens, completion_tokens, cache_write_tokens=writes)


@dataclass(frozen=True)
class CallSize:
    """What bounds a call's cost, whatever model serves it."""

    prompt_tokens: int
    max_completion_tokens: int  # per choice; 0: each model's own output cap
    choices: int = 1


@dataclass(frozen=True)
class Pricing:
    """How a project's calls are priced: its currency and multiplier, the rate, and
    whether they are Batch API lines (at the batch price, batch_prices.py)."""

    project: Row[Any]
    usd_to_cny: Decimal
    batch: bool = False

    def billed(self, price: Price) -> tuple[Price, Decimal]:
        """The price a call pays and the fraction of its cost: a batch line's terms."""
        if not self.batch:
            return price, Decimal(1)
        terms = batch_terms(price)
        return terms.price, terms.fraction

    def cost(self, price: Price, usage: Usage, fraction: Decimal = Decimal(1)) -> int:
        """The call's cost in the project's currency, at its price multiplier (times the
        fraction a cache hit pays, and a batch line's default discount; the product is
        exact, and rounded once)."""
        price, batch_fraction = self.billed(price)
        fraction = _EXACT.multiply(fraction, batch_fraction)
        multiplier = from_nano(self.project.price_multiplier_nano)
        return cost_nano(
            price,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            currency=self.project.currency,
            usd_to_cny=self.usd_to_cny,
            multiplier=_EXACT.multiply(multiplier, fraction),
        )

    def worst_case(self, price: Price, size: CallSize) -> int:
        output_cap = (size.max_completion_tokens or price.max_output_tokens) * size.choices
        billed, _ = self.billed(price)
        return self.cost(price, Usage.worst_case(billed, size.prompt_tokens, output_cap))


@dataclass(frozen=True)
class Dearest:
    """The largest worst case over a call's models, or the first without a price."""

    amount_nano: int = 0
    unpriced: str = ""  # a model that has no price: the call cannot be held


def dearest(
    prices: PriceLookup, models: Iterable[str], size: CallSize, pricing: Pricing, at: datetime
) -> Dearest:
    amount = 0
    for model in dict.fromkeys(models):  # each once, in order
        price = prices(model, at)
        if price is None:
            return Dearest(unpriced=model)
        amount = max(amount, pricing.worst_case(price, size))
    return Dearest(amount)


def held_by(conn: Connection, reservation: Row[Any] | None) -> dict[CounterId, int]:
    """What an open reservation holds, by counter; nothing for any other."""
    if reservation is None or reservation.state != ReservationState.OPEN:
        return {}
    rows = conn.execute(queries.HOLDS_OF, {"request_id": reservation.request_id}).all()
    return {(row.budget_id, row.period_key): row.amount_nano for row in rows}


def free(conn: Connection, holds: dict[CounterId, int], counters: dict[CounterId, Counter]) -> None:
    """Give back held amounts (counters of deleted budgets are gone: skip them)."""
    for counter_id, amount in sorted(holds.items()):
        if counter_id in counters:
            move(conn, counter_id, reserved=-amount)
