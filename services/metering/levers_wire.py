"""Savings and what-if on the wire: the Metering contract's messages from the report
dataclasses, and the what-if request read into a query (the JSON that the CLI and the
admin API show from these messages is tollgate/reports/levers.py). Amounts stay exact
decimal strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.metering.refusals import invalid
from services.metering.reports import current_period, month_bounds
from services.metering.savings import Savings, Sums
from services.metering.whatif import PriceBook, WhatIf, WhatIfQuery, override_price, parse_rate
from tollgate.money import Price, format_amount, to_nano
from tollgate.v1 import budget_pb2, common_pb2, metering_pb2


def previous_period(now: datetime | None = None) -> str:
    """Last month, "YYYY-MM" (UTC): what-if's default."""
    first = (now or datetime.now(UTC)).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _money(nano: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=format_amount(nano), currency=currency)


def _set_sums(message: Any, sums: Sums, currency: str) -> None:
    message.requests = sums.requests
    message.cost.CopyFrom(_money(sums.cost_nano, currency))
    message.reference.CopyFrom(_money(sums.reference_nano, currency))
    message.saved.CopyFrom(_money(sums.saved_nano, currency))
    message.compacted_tokens = sums.compacted_tokens


def savings_to_proto(savings: Savings, month: str) -> metering_pb2.SavingsResponse:
    reply = metering_pb2.SavingsResponse(month=month)
    for line in savings.lines:
        shown = reply.lines.add(project_id=line.project_id, project=line.project, lever=line.lever)
        _set_sums(shown, line.sums, line.currency)
    for currency, sums in sorted(savings.totals.items()):
        total = reply.totals.add(cache_hits=sums.cache_hits)
        _set_sums(total, sums, currency)
    return reply


def whatif_query(request: metering_pb2.WhatIfRequest, month: str) -> WhatIfQuery:
    """The query of a request for `month` ("YYYY-MM"); a Refusal naming the field at
    fault on bad input."""
    try:
        first, end = month_bounds(month)
    except ValueError as exc:
        raise invalid("month", exc) from None
    prices: dict[str, Price] = {}
    for model, given in request.prices.items():
        try:
            prices[model] = override_price(model, given.input, given.output, given.cached_input)
        except ValueError as exc:
            raise invalid("prices", ValueError(f"price of {model!r}: {exc}")) from None
    for asked, target in request.model_map.items():
        if not asked.strip() or not target.strip():
            message = f"map: {asked}={target} needs a model on each side"
            raise invalid("model_map", ValueError(message))
    try:
        rate = parse_rate(request.cache_hit_rate)
    except ValueError as exc:
        raise invalid("cache_hit_rate", exc) from None
    return WhatIfQuery(
        project_id=request.project_id,
        first=first,
        end=end,
        model_map=dict(request.model_map),
        prices=prices,
        cache_hit_rate=rate,
    )


def whatif_month(request: metering_pb2.WhatIfRequest) -> str:
    return request.month or previous_period()


def savings_month(month: str) -> str:
    return month or current_period()


def book_of(reply: budget_pb2.GetPricesResponse) -> PriceBook:
    """Budget's GetPrices answer as a price book."""
    return PriceBook(
        prices={
            p.model: Price(
                model=p.model,
                input_nano=to_nano(p.input),
                output_nano=to_nano(p.output),
                cached_input_nano=to_nano(p.cached_input),
                currency=p.currency,
                max_output_tokens=0,
                cache_write_input_nano=to_nano(p.cache_write_input),
            )
            for p in reply.prices
        },
        usd_to_cny=Decimal(reply.usd_to_cny or "0"),
    )


def whatif_to_proto(result: WhatIf, month: str) -> metering_pb2.WhatIfResponse:
    c = result.currency
    return metering_pb2.WhatIfResponse(
        project_id=result.project_id,
        project=result.project,
        month=month,
        currency=c,
        lines=[
            metering_pb2.WhatIfLine(
                model=g.model,
                priced_as=g.priced_as,
                requests=g.requests,
                input_tokens=g.prompt_tokens,
                output_tokens=g.completion_tokens,
                cached_tokens=g.cached_tokens,
                cache_write_tokens=g.cache_write_tokens,
                actual=_money(g.actual_nano, c),
                what_if=_money(g.what_if_nano, c),
            )
            for g in result.groups
        ],
        actual=_money(result.actual_nano, c),
        what_if=_money(result.what_if_nano, c),
        difference=format_amount(result.what_if_nano - result.actual_nano),
    )
