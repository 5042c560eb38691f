"""A settlement's terms beyond the usage: the fraction of the price a cache hit pays,
and the reference a call's savings are measured against.

The reference is what the call would have cost without tollgate's levers: the
reference usage (the usage before prompt compaction; a cache hit's stored usage)
priced at the reference model (the model the client asked for) in force when the call
started, at the whole price, with the project's multiplier, in the project's currency.
Savings are reference minus cost; Budget only prices, metering keeps the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tollgate.money import MoneyError, Price, parse_amount

if TYPE_CHECKING:
    from services.budget.catalogue import PriceLookup
    from services.budget.holds import Usage

WHOLE = Decimal(1)


@dataclass(frozen=True)
class SettleTerms:
    # The share of its price the call pays (a cache hit's configured fraction).
    fraction: Decimal = WHOLE
    # Empty: no reference; the reference cost is the cost, and nothing is saved.
    reference_model: str = ""
    reference_usage: Usage | None = None
    # A Batch API line's batch: billed at the batch price, its reference at the whole
    # price (so the batch discount is saved, and shows in the savings report).
    batch_id: str = ""

    @property
    def batch(self) -> bool:
        return bool(self.batch_id)

    def same_as(self, model: str, usage: Usage) -> bool:
        """Whether the reference is the call itself at its whole price (nothing saved,
        and no second price to read)."""
        return (
            self.fraction == WHOLE
            and self.reference_model == model
            and self.reference_usage == usage
        )


NO_TERMS = SettleTerms()


def parse_fraction(text: str) -> Decimal:
    """A cost fraction from the wire: empty is the whole price, else a decimal in [0, 1]."""
    if not text:
        return WHOLE
    try:
        value = parse_amount(text, "cost_fraction")
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if value > WHOLE:
        raise ValueError(f"cost_fraction: {text!r} must be between 0 and 1")
    return value


def reference_nano(
    prices: PriceLookup,
    terms: SettleTerms,
    call: tuple[str, Usage, int],
    priced_at: datetime,
    cost_of: Callable[[Price, Usage], int],
) -> int:
    """The reference cost of a call (model, usage, cost): `cost_of` the reference usage
    at the reference model's price in force at `priced_at`. No reference, or a
    reference model with no price then: the cost itself (nothing saved). A batch line
    without a reference is its own reference, at the whole price."""
    model, usage, cost = call
    if terms.batch:
        model = terms.reference_model or model
        usage = usage if terms.reference_usage is None else terms.reference_usage
    elif not terms.reference_model or terms.reference_usage is None:
        return cost
    elif terms.same_as(model, usage):
        return cost
    else:
        model, usage = terms.reference_model, terms.reference_usage
    price = prices(model, priced_at)
    return cost_of(price, usage) if price else cost
