"""The gateway's x-tollgate-cost arithmetic is Budget's Settle arithmetic: for any
usage, price, currency, multiplier and cache-hit fraction the quote equals what
`Pricing.cost` bills, to the nano-unit; prices and multipliers are asked of Budget
once a TTL; an unknown price or an unreachable Budget leaves the headers out."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.budget.holds import Pricing, Usage
from services.gateway.caller import Caller
from services.gateway.cost_header import (
    COST,
    COST_INPUT,
    COST_OUTPUT,
    CostQuotes,
    Quote,
    quote,
    sum_headers,
)
from tollgate.money import Price, format_multiplier
from tollgate.v1 import budget_pb2, common_pb2

nanos = st.integers(0, 10**12)  # up to 1,000 a million tokens
counts = st.integers(0, 10**8)


@settings(max_examples=300, deadline=None)
@given(
    price=st.builds(
        Price,
        model=st.just("m"),
        input_nano=nanos,
        output_nano=nanos,
        cached_input_nano=nanos,
        currency=st.sampled_from(["USD", "CNY"]),
        max_output_tokens=st.just(0),
        cache_write_input_nano=st.none() | nanos,
    ),
    usage=st.tuples(counts, counts, counts, counts),
    project_currency=st.sampled_from(["USD", "CNY"]),
    multiplier_nano=st.integers(0, 1000 * 10**9),
    fraction=st.sampled_from(["0", "0.1", "0.333333333", "1", ""]),
    rate=st.sampled_from(["7.2", "7.1234", "6.9"]),
)
def test_the_quote_is_what_settle_bills(
    price: Price,
    usage: tuple[int, int, int, int],
    project_currency: str,
    multiplier_nano: int,
    fraction: str,
    rate: str,
) -> None:
    prompt, completion, cached, writes = usage
    project = SimpleNamespace(currency=project_currency, price_multiplier_nano=multiplier_nano)
    whole = Decimal(fraction or "1")
    billed = Pricing(project, Decimal(rate)).cost(  # type: ignore[arg-type]
        price, Usage(prompt, completion, cached, writes), whole
    )
    wire = common_pb2.Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=writes,
    )
    # The multiplier as GetProject sends it: the shortest exact decimal.
    multiplier = Decimal(format_multiplier(multiplier_nano))
    found = quote(
        price,
        wire,
        currency=project_currency,
        usd_to_cny=Decimal(rate),
        multiplier=multiplier,
        fraction=whole,
    )
    assert found.total_nano == billed
    no_output = Pricing(project, Decimal(rate)).cost(  # type: ignore[arg-type]
        price, Usage(prompt, 0, cached, writes), whole
    )
    assert found.input_nano == no_output
    assert found.input_nano + found.output_nano == found.total_nano


class FakeBudget:
    """GetPrices and GetProject, counted; `down` makes both fail as an RPC would."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False
        self.multiplier = "1.15"

    def _fail(self) -> None:
        if self.down:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()
            )

    async def GetPrices(self, request: Any, timeout: float = 0) -> Any:
        self.calls.append("prices")
        self._fail()
        prices = [
            budget_pb2.ModelPrice(
                model="m",
                currency="USD",
                input="2.5",
                output="10",
                cached_input="1.25",
                cache_write_input="2.5",
            )
        ]
        return budget_pb2.GetPricesResponse(
            prices=[p for p in prices if p.model in request.models], usd_to_cny="7.2"
        )

    async def GetProject(self, request: Any, timeout: float = 0) -> Any:
        self.calls.append("project")
        self._fail()
        return budget_pb2.Project(id=request.project, price_multiplier=self.multiplier)


CALLER = Caller("key_1", "proj_1", "p", "USD")
USAGE = common_pb2.Usage(prompt_tokens=1000, completion_tokens=200, cached_tokens=400)


def test_headers_price_the_call_and_cache_budgets_answers() -> None:
    budget, now = FakeBudget(), [0.0]
    costs = CostQuotes(budget, ttl_seconds=2, clock=lambda: now[0])  # type: ignore[arg-type]

    async def run() -> list[dict[str, str]]:
        found = [await costs.headers(CALLER, "m", USAGE)]
        found.append(await costs.headers(CALLER, "m", USAGE, "0.5"))
        budget.multiplier = "2"
        found.append(await costs.headers(CALLER, "m", USAGE))  # cached: still 1.15
        now[0] = 2.5
        found.append(await costs.headers(CALLER, "m", USAGE))  # expired: asked again
        return found

    whole, half, cached, fresh = asyncio.run(run())
    # (600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6 * 1.15 = 0.0046
    assert whole == {COST: "0.0046 USD", COST_INPUT: "0.0023 USD", COST_OUTPUT: "0.0023 USD"}
    assert half[COST] == "0.0023 USD"
    assert cached == whole
    assert fresh[COST] == "0.008 USD"
    assert budget.calls == ["prices", "project", "prices", "project"]


@pytest.mark.parametrize(
    ("model", "usage", "fraction", "down"),
    [
        ("unpriced", USAGE, "", False),  # no price: no guess
        ("m", None, "", False),  # no usage recorded
        ("", USAGE, "", False),  # nothing served
        ("m", USAGE, "1.5", False),  # a fraction out of range
        ("m", USAGE, "", True),  # Budget unreachable
    ],
)
def test_no_header_when_the_cost_is_not_known(
    model: str, usage: common_pb2.Usage | None, fraction: str, down: bool
) -> None:
    budget = FakeBudget()
    budget.down = down
    costs = CostQuotes(budget)  # type: ignore[arg-type]
    assert asyncio.run(costs.headers(CALLER, model, usage, fraction)) == {}


def test_a_request_of_several_calls_carries_their_sum_or_nothing() -> None:
    one, two = Quote(1_500_000_000, 500_000_000, "CNY"), Quote(3, 1, "CNY")
    assert sum_headers([one, two]) == {
        COST: "1.500000003 CNY",
        COST_INPUT: "0.500000001 CNY",
        COST_OUTPUT: "1.000000002 CNY",
    }
    assert sum_headers([one, None]) == {}
    assert sum_headers([one, Quote(1, 0, "USD")]) == {}
    assert sum_headers([]) == {}
