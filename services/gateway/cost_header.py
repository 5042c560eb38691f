"""x-tollgate-cost: what a non-streaming call cost, on its response.

    x-tollgate-cost: 0.000123 USD
    x-tollgate-cost-input: 0.0001 USD
    x-tollgate-cost-output: 0.000023 USD

The cost is computed as Budget's Settle computes the ledger row's: the usage the
router recorded, at the price of the model that served, in the project's currency,
times the project's price multiplier and the fraction a cache hit pays, rounded once,
half up, to a nano-unit (tollgate/money.py `cost_nano`; here in integers, with the
exact fraction of rate and multiplier kept). So the header equals the ledger row's
cost exactly while the price and the multiplier stand; the ledger is priced at the
price in force when the call started, and this module's copies of prices and
multipliers are at most `TTL_SECONDS` old. The input part is the same sum
with no output tokens; the output part is the total less it, so the parts add up to
the total exactly.

A stream's headers leave before its usage is known: streams carry no cost header.
Whenever the cost cannot be known (no price, Budget unreachable) the headers are
left out rather than guessed; the call is billed as ever.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING

import grpc

from services.gateway.caller import Caller
from tollgate.money import (
    TOKENS_PER_PRICE_UNIT,
    MoneyError,
    Price,
    exact_rate,
    format_amount,
    to_nano,
    weighted_tokens,
)
from tollgate.v1 import budget_pb2, budget_pb2_grpc, common_pb2

if TYPE_CHECKING:  # relay.py imports deps.py, which holds a CostQuotes
    from services.gateway.relay import Relay

log = logging.getLogger(__name__)

COST = "x-tollgate-cost"
COST_INPUT = "x-tollgate-cost-input"
COST_OUTPUT = "x-tollgate-cost-output"
TTL_SECONDS = 2.0
RPC_TIMEOUT_SECONDS = 2.0
_EXACT = Context(prec=60)  # a multiplier times a fraction: exact, as Settle's


@dataclass(frozen=True)
class Quote:
    """A call's cost in nano-units of `currency`: the total, and its input part."""

    total_nano: int
    input_nano: int
    currency: str

    @property
    def output_nano(self) -> int:
        return self.total_nano - self.input_nano

    def headers(self) -> dict[str, str]:
        return {
            COST: f"{format_amount(self.total_nano)} {self.currency}",
            COST_INPUT: f"{format_amount(self.input_nano)} {self.currency}",
            COST_OUTPUT: f"{format_amount(self.output_nano)} {self.currency}",
        }


@dataclass(frozen=True)
class _Rate:
    price: Price | None  # None: the model has no price
    usd_to_cny: Decimal


def _price(model: str, found: budget_pb2.ModelPrice) -> Price:
    return Price(
        model=model,
        input_nano=to_nano(found.input),
        output_nano=to_nano(found.output),
        cached_input_nano=to_nano(found.cached_input or found.input),
        currency=found.currency,
        max_output_tokens=0,
        cache_write_input_nano=to_nano(found.cache_write_input)
        if found.cache_write_input
        else None,
    )


def quote(
    price: Price,
    usage: common_pb2.Usage,
    *,
    currency: str,
    usd_to_cny: Decimal,
    multiplier: Decimal,
    fraction: Decimal = Decimal(1),
) -> Quote:
    """The call's cost as Settle computes it (services/budget/holds.py `Pricing.cost`)."""
    factor = _EXACT.multiply(multiplier, fraction)
    scale = _scale(price.currency, currency, usd_to_cny, factor)
    return Quote(
        _round(price, usage, usage.completion_tokens, scale),
        _round(price, usage, 0, scale),
        currency,
    )


@functools.lru_cache(maxsize=1024)
def _scale(
    price_currency: str, currency: str, usd_to_cny: Decimal, factor: Decimal
) -> tuple[int, int]:
    """What a price-weighted token count (money.py `weighted_tokens`) is multiplied by
    to make nano-units of `currency`: `cost_nano`'s rate times multiplier over a million
    tokens, as an exact numerator and denominator. A process meets a few of these
    (a price currency, a rate, a project's multiplier), so each is computed once."""
    if not factor.is_finite() or factor < 0:
        raise MoneyError(f"price multiplier: {factor} must be finite and non-negative")
    exact = (
        exact_rate(price_currency, currency, usd_to_cny) * Fraction(factor) / TOKENS_PER_PRICE_UNIT
    )
    return exact.numerator, exact.denominator


def _round(
    price: Price, usage: common_pb2.Usage, completion_tokens: int, scale: tuple[int, int]
) -> int:
    """`cost_nano` of the usage with `completion_tokens`, in integers: the weighted
    count times the scale, rounded once, half up."""
    weighted = weighted_tokens(
        price,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    numerator, denominator = scale
    return (2 * weighted * numerator + denominator) // (2 * denominator)


def parse_fraction(text: str) -> Decimal | None:
    """A Served.cost_fraction: "" is the whole price; None when it is not 0 to 1."""
    if not text:
        return Decimal(1)
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value <= 1 else None


class CostQuotes:
    """Prices (Budget's GetPrices) and project multipliers (GetProject), each kept
    for `ttl_seconds`, and the cost headers of a call computed from them."""

    def __init__(
        self,
        budget: budget_pb2_grpc.BudgetStub,
        *,
        ttl_seconds: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._budget = budget
        self._ttl = ttl_seconds
        self._clock = clock
        self._rates: dict[str, tuple[float, _Rate]] = {}
        self._multipliers: dict[str, tuple[float, Decimal]] = {}

    async def _rate(self, model: str) -> _Rate:
        now = self._clock()
        cached = self._rates.get(model)
        if cached and cached[0] > now:
            return cached[1]
        reply = await self._budget.GetPrices(
            budget_pb2.GetPricesRequest(models=[model]), timeout=RPC_TIMEOUT_SECONDS
        )
        found = [p for p in reply.prices if p.model == model]
        rate = _Rate(_price(model, found[0]) if found else None, Decimal(reply.usd_to_cny))
        if len(self._rates) > 10_000:  # models come from the router's list: a bound anyway
            self._rates.clear()
        self._rates[model] = (now + self._ttl, rate)
        return rate

    async def _multiplier(self, project_id: str) -> Decimal:
        now = self._clock()
        cached = self._multipliers.get(project_id)
        if cached and cached[0] > now:
            return cached[1]
        project = await self._budget.GetProject(
            budget_pb2.ProjectRef(project=project_id), timeout=RPC_TIMEOUT_SECONDS
        )
        multiplier = Decimal(project.price_multiplier or "1")
        if len(self._multipliers) > 100_000:
            self._multipliers.clear()
        self._multipliers[project_id] = (now + self._ttl, multiplier)
        return multiplier

    async def quote(
        self, caller: Caller, model: str, usage: common_pb2.Usage | None, cost_fraction: str = ""
    ) -> Quote | None:
        """The cost of a finished call served by `model`; None when it is not known."""
        fraction = parse_fraction(cost_fraction)
        if usage is None or not model or fraction is None:
            return None
        try:
            rate = await self._rate(model)
            if rate.price is None:
                return None
            multiplier = await self._multiplier(caller.project_id)
            return quote(
                rate.price,
                usage,
                currency=caller.currency,
                usd_to_cny=rate.usd_to_cny,
                multiplier=multiplier,
                fraction=fraction,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("no cost header: budget answered %s", exc.code())
        except (MoneyError, InvalidOperation, ValueError) as exc:
            log.warning("no cost header: %s", exc)
        return None

    async def headers(
        self, caller: Caller, model: str, usage: common_pb2.Usage | None, cost_fraction: str = ""
    ) -> dict[str, str]:
        """The cost headers of a finished call served by `model`; none when unknown."""
        found = await self.quote(caller, model, usage, cost_fraction)
        return found.headers() if found is not None else {}


async def relay_quote(costs: CostQuotes | None, caller: Caller, relay: Relay) -> Quote | None:
    """The cost of a finished non-streaming relay (its usage event read)."""
    if costs is None or relay.served is None:
        return None
    served = relay.served
    return await costs.quote(caller, served.model, relay.usage, served.cost_fraction)


async def relay_cost_headers(
    costs: CostQuotes | None, caller: Caller, relay: Relay
) -> dict[str, str]:
    """The cost headers of a finished non-streaming relay; none when not known."""
    found = await relay_quote(costs, caller, relay)
    return found.headers() if found is not None else {}


def sum_headers(quotes: list[Quote | None]) -> dict[str, str]:
    """The cost headers of a request made of several calls (a list of completions
    prompts, one ledger row each): their sum; none when any one is not known."""
    known = [q for q in quotes if q is not None]
    if not known or len(known) < len(quotes) or len({q.currency for q in known}) > 1:
        return {}
    total = Quote(
        sum(q.total_nano for q in known), sum(q.input_nano for q in known), known[0].currency
    )
    return total.headers()
